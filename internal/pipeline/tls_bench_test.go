package pipeline

import (
	"errors"
	"io"
	"testing"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/reassembly/tls"
)

// BenchmarkDecryptedHTTPS runs the whole analysis (reassembly, TLS 1.3
// decryption, HTTP parsing, every rule) over a recorded HTTPS capture held
// in memory, with its key log; bytes are captured bytes.
func BenchmarkDecryptedHTTPS(b *testing.B) {
	const dir = "../../testdata/tls/"
	keys, err := tls.ReadKeyLogFile(dir + "python-tls-nagle.keys")
	if err != nil {
		b.Fatal(err)
	}
	src, err := capture.OpenFiles([]string{dir + "python-tls-nagle.pcap"}, capture.FileOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var items []capture.Packet
	var size int64
	for {
		p, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			b.Fatal(err)
		}
		p.Data = append([]byte(nil), p.Data...)
		items = append(items, p)
		size += int64(len(p.Data))
	}
	src.Close()
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		res := Run(&fakeLive{items: items}, Options{Config: analyze.DefaultConfig(), Sink: &findings{}, Keys: keys})
		if res.Summary.Transactions != 4 {
			b.Fatalf("%d transactions, want 4 (decrypted)", res.Summary.Transactions)
		}
	}
}
