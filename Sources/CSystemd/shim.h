#include <systemd/sd-journal.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-bus.h>
/* Not systemd's, but the same kind of C surface the daemons need: pidfd_open (glibc 2.36),
   which Swift's Glibc module does not export, for watching a parent process's exit. */
#include <sys/pidfd.h>
