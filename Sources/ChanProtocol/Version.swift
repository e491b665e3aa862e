/// The version of chand and chan, as `--version` prints it (and HELLO's `server=chand/<version>` should say).
public enum ChandVersion {
    public static let current = "0.1.0"
}
