package chand

// The tokens of protocol.md (version 1) that this client writes and reads.
const (
	verbSend   = "SEND"
	verbThrow  = "THROW"
	verbRecv   = "RECV"
	verbSelect = "SELECT"
	verbMake   = "MAKE"
	verbClose  = "CLOSE"
	verbStat   = "STAT"
	verbPing   = "PING"
	verbInfo   = "INFO"
	verbHello  = "HELLO"
	verbAck    = "ACK"
	verbNack   = "NACK"
	verbAuth   = "AUTH"

	optionNowait   = "NOWAIT"
	optionAck      = "ACK"
	optionCap      = "CAP"
	optionPrefer   = "PREFER"
	prefReceiver   = "RECEIVER"
	prefSender     = "SENDER"
	prefNone       = "NONE"
	lineEnd        = "\r\n"
	countedOpen    = "{"
	countedClose   = "}"
	fieldSeparator = "="

	replyOK       = "OK"
	replyPong     = "PONG"
	replyBye      = "BYE"
	replyTimeout  = "TIMEOUT"
	replyMsg      = "MSG"
	replyExc      = "EXC"
	replyClosed   = "CLOSED"
	replyErr      = "ERR"
	replySelected = "SELECTED"
	replyStat     = "STAT"
	replyInfo     = "INFO"
	replyHello    = "HELLO"

	codeClosed = "CLOSED"
	codeExists = "EXISTS"
	codeDenied = "DENIED"
	codeNoAuth = "NOAUTH"

	// schemeTLS starts an address whose connections speak TLS.
	schemeTLS = "tls://"

	statCap        = "cap"
	statLen        = "len"
	statBalance    = "balance"
	statState      = "state"
	statPreference = "preference"
	statSenders    = "senders"
	statReceivers  = "receivers"
	statPersistent = "persistent"
	statSent       = "sent"
	statReceived   = "received"
	statRate       = "rate"
	statHeld       = "held"

	// DefaultPort is chand's port when an address names none.
	DefaultPort = "7400"
	// DefaultHost is chand's host when an address names none.
	DefaultHost = "127.0.0.1"
)
