extension ServerState {
    /// Replaces the users (at start, or on SIGHUP). Each connection checks
    /// its next command against the new file: a user no longer in it is no
    /// longer authenticated, and new grants apply at once.
    public func setUsers(_ users: (any UserDirectory)?) {
        self.users = users
        requiresLogin = users != nil
        usersGeneration &+= 1
    }
}
