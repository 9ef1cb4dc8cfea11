import Crypto

/// CIB digests: MD5 (as Pacemaker uses) over the compact serialisation of the document, so
/// that reformatting the file does not change it but any change of content does.
public enum CIBDigest {
    /// The hex digest of an element.
    public static func digest(of element: XElement) -> String {
        md5Hex(element.xmlBytes(.compact))
    }

    /// The lowercase hex MD5 of some bytes (Pacemaker's digests are MD5; none is used for
    /// security).
    public static func md5Hex(_ bytes: [UInt8]) -> String {
        Insecure.MD5.hash(data: bytes).map { byte in
            let s = String(byte, radix: 16)
            return byte < 16 ? "0" + s : s
        }.joined()
    }
}

extension CIB {
    /// The digest of the whole document.
    public var digest: String { CIBDigest.digest(of: root) }
}
