/// The order in which a GLib 2.74 hash table keyed by strings iterates its keys, given the
/// order they were inserted in (no removals). Pacemaker 2.1.5's `pcmk__strkey_table` is such a
/// table, hashing with its own `pcmk__str_hash` (`h * 31 + c` from 0).
///
/// Pacemaker keeps some lists in such tables and prints them in iteration order (crm_mon's
/// tickets are one); showing the same order means placing the keys the way GLib does: open
/// addressing over a power-of-two array, the start slot `(hash * 11) mod prime`, quadratic
/// probing, and an in-place rehash when the table grows past 15/16 occupancy.
public enum GLibHashOrder {
    /// `pcmk__str_hash`: `h * 31 + c` over the bytes as signed chars, from 0.
    public static func pacemakerHash(_ s: String) -> UInt32 {
        var h: UInt32 = 0
        for b in s.utf8 {
            h = (h << 5) &- h &+ UInt32(bitPattern: Int32(Int8(bitPattern: b)))
        }
        return h
    }

    /// GLib's `g_str_hash`: djb2 over the bytes as signed chars.
    public static func glibHash(_ s: String) -> UInt32 {
        var h: UInt32 = 5381
        for b in s.utf8 {
            h = (h << 5) &+ h &+ UInt32(bitPattern: Int32(Int8(bitPattern: b)))
        }
        return h
    }

    /// The keys in iteration order (a key inserted twice counts once, at its first insertion),
    /// hashed with `hash` (Pacemaker's by default).
    public static func order(_ keys: [String], hash: @escaping (String) -> UInt32 = pacemakerHash) -> [String] {
        var table = Table(hash: hash)
        for k in keys { table.insert(k) }
        return table.iterationOrder()
    }

    /// The primes GLib takes the start slot modulo, by table shift (`prime_mod`).
    static let primeMod: [UInt32] = [
        1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521,
        131071, 262139, 524287, 1048573, 2097143, 4194301, 8388593, 16777213, 33554393,
        67108859, 134217689, 268435399, 536870909, 1073741789, 2147483647,
    ]
    static let minShift = 3

    struct Table {
        let hash: (String) -> UInt32
        var size = 1 << GLibHashOrder.minShift
        var mod = GLibHashOrder.primeMod[GLibHashOrder.minShift]
        var mask = UInt32((1 << GLibHashOrder.minShift) - 1)
        var hashes = [UInt32](repeating: 0, count: 1 << GLibHashOrder.minShift)
        var keys = [String?](repeating: nil, count: 1 << GLibHashOrder.minShift)
        var nnodes = 0
        var noccupied = 0

        /// 0 is an unused slot, 1 a tombstone: real hashes are 2 or more.
        static func isReal(_ h: UInt32) -> Bool { h >= 2 }

        func start(_ hash: UInt32) -> UInt32 { (hash &* 11) % mod }

        mutating func setShift(fromSize n: Int) {
            var shift = 0
            var rest = n
            while rest != 0 { rest >>= 1; shift += 1 }
            shift = max(shift, GLibHashOrder.minShift)
            size = 1 << shift
            mod = GLibHashOrder.primeMod[shift]
            mask = UInt32(size - 1)
        }

        mutating func insert(_ key: String) {
            var hash = self.hash(key)
            if !Self.isReal(hash) { hash = 2 }
            var index = start(hash)
            var step: UInt32 = 0
            while hashes[Int(index)] != 0 {
                if hashes[Int(index)] == hash && keys[Int(index)] == key { return }
                step += 1
                index = (index &+ step) & mask
            }
            hashes[Int(index)] = hash
            keys[Int(index)] = key
            nnodes += 1
            noccupied += 1
            if (size > nnodes * 4 && size > 1 << GLibHashOrder.minShift) || size <= noccupied + noccupied / 16 {
                resize()
            }
        }

        /// `g_hash_table_resize`: the new size from the node count, then every entry moved
        /// in place to its new slot, evicting the entries not yet moved.
        mutating func resize() {
            let oldSize = size
            setShift(fromSize: Int(Double(nnodes) * 1.333))
            if size > oldSize {
                hashes += [UInt32](repeating: 0, count: size - oldSize)
                keys += [String?](repeating: nil, count: size - oldSize)
            }
            var placed = [Bool](repeating: false, count: max(size, oldSize))
            for i in 0..<oldSize {
                var nodeHash = hashes[i]
                if !Self.isReal(nodeHash) {
                    hashes[i] = 0
                    continue
                }
                if placed[i] { continue }
                hashes[i] = 0
                var key = keys[i]
                keys[i] = nil
                while true {
                    var slot = start(nodeHash)
                    var step: UInt32 = 0
                    while placed[Int(slot)] {
                        step += 1
                        slot = (slot &+ step) & mask
                    }
                    placed[Int(slot)] = true
                    let replaced = hashes[Int(slot)]
                    hashes[Int(slot)] = nodeHash
                    if !Self.isReal(replaced) {
                        keys[Int(slot)] = key
                        break
                    }
                    nodeHash = replaced
                    swap(&key, &keys[Int(slot)])
                }
            }
            if size < oldSize {
                hashes.removeLast(oldSize - size)
                keys.removeLast(oldSize - size)
            }
            noccupied = nnodes
        }

        func iterationOrder() -> [String] {
            hashes.indices.compactMap { Self.isReal(hashes[$0]) ? keys[$0] : nil }
        }
    }
}
