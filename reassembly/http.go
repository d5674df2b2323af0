package reassembly

import "github.com/connlint/connlint/reassembly/http1"

// convHandler forwards one connection's HTTP events to the Handler with the
// connection attached.
type convHandler struct {
	a *Assembler
	c *conn
}

func (h convHandler) Message(m *http1.Message) { h.a.h.Message(&h.c.Conn, m) }

func (h convHandler) Transaction(t *http1.Transaction) { h.a.h.Transaction(&h.c.Conn, t) }

// newConversationSink is the production stream sink: an HTTP/1.x
// conversation per connection. It is created once the roles are known, so
// the parser gets requests on ClientToServer.
func newConversationSink(a *Assembler, c *conn) streamSink {
	return http1.NewConversation(convHandler{a, c}, a.opts.HTTP, c.MidStream)
}
