package capture

// LiveOptions configure OpenLive.
type LiveOptions struct {
	Interface string
	Filter    string // BPF expression, compiled by libpcap for the interface
	Snaplen   int    // default DefaultSnaplen
	Promisc   bool
	Immediate bool   // deliver packets as they arrive instead of when the kernel buffer fills
	WriteFile string // also save packets here (pcap), so evidence can be opened in Wireshark
	// DropUser is the user to become once the handle (and WriteFile) is
	// open, as tcpdump -Z does: "" means SUDO_USER if set, else "nobody";
	// "-" keeps the current user. Only done when running as root.
	DropUser string
}
