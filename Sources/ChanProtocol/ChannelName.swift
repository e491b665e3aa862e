/// The one rule for channel names (and CHANNELS prefixes): 1-255 bytes, each printable ASCII except space.
public enum ChannelName {
    public static let maxLength = Wire.maxNameLength

    public static func isValid(_ name: String) -> Bool { isValid(name.utf8) }

    public static func isValid<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Bool {
        (1...maxLength).contains(bytes.count) && bytes.allSatisfy(Wire.nameBytes.contains)
    }

    /// What the rule is, for messages that refuse a name.
    public static let rule = "a channel name is 1-255 printable ASCII characters, no spaces"
}
