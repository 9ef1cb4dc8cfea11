import Crypto

/// CIB digests: MD5 (as Pacemaker uses) over the compact serialisation of the document, so
/// that reformatting the file does not change it but any change of content does.
public enum CIBDigest {
    /// The hex digest of an element.
    public static func digest(of element: XElement) -> String {
        let bytes = element.xmlBytes(.compact)
        return Insecure.MD5.hash(data: bytes).map { byte in
            let s = String(byte, radix: 16)
            return byte < 16 ? "0" + s : s
        }.joined()
    }
}

extension CIB {
    /// The digest of the whole document.
    public var digest: String { CIBDigest.digest(of: root) }
}
