package analyze

import (
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// HTTP1Consumers returns the reassembly.ConsumerFactory that parses every
// connection as HTTP/1.x: an http1.Conversation per connection, whose
// messages and transactions go to e.Message and e.Transaction with the
// connection attached. Set it as reassembly.Options.Consumers of the
// Assembler that feeds e.
func (e *Engine) HTTP1Consumers(opts http1.Options) reassembly.ConsumerFactory {
	return http1Consumers{e: e, opts: opts}
}

type http1Consumers struct {
	e    *Engine
	opts http1.Options
}

func (f http1Consumers) NewConsumer(c *reassembly.Conn) reassembly.Consumer {
	return http1.NewConversation(http1Events{f.e, c}, f.opts, c.MidStream)
}

func (http1Consumers) SenderDir(b []byte) (flow.Dir, bool) { return http1.SenderDir(b) }

// http1Events is a Conversation's http1.Handler: it attaches the connection.
type http1Events struct {
	e *Engine
	c *reassembly.Conn
}

func (h http1Events) Message(m *http1.Message)         { h.e.Message(h.c, m) }
func (h http1Events) Transaction(t *http1.Transaction) { h.e.Transaction(h.c, t) }

// Compile-time checks: a Conversation is what the Assembler drives.
var (
	_ reassembly.Consumer   = (*http1.Conversation)(nil)
	_ reassembly.Recognizer = (*http1.Conversation)(nil)
	_ reassembly.Handler    = (*Engine)(nil)
)
