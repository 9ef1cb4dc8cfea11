// libxml2's xmlversion.h turns on its ICU support, whose headers clash with the ICU that
// Foundation bundles ("'UErrorCode' has different definitions in different modules").
// Include the version header first, switch ICU off, then include the headers we use.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/SAX2.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <libxml/relaxng.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlsave.h>
