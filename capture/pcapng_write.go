package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

/*
pcapng output. A -w name ending in .pcapng (any case) is written as pcapng
by gopacket's NgWriter, little-endian:

	Section Header Block   shb_userappl "connlint <version>" (LiveOptions.Application), shb_os, shb_hardware
	Interface Description  link type and snaplen of the handle, if_name (the interface), if_filter (the BPF filter), if_os, if_tsresol 9 (ns)
	Enhanced Packet Block  one per packet, interface 0
	…

Any other name gets classic pcap with nanosecond timestamps, as before.

EmbedKeyLog later puts a Decryption Secrets Block (TLS key log) between the
header blocks and the first packet, where Wireshark reads the keys before
any packet that needs them.
*/

// IsPcapngName reports whether a -w file name asks for pcapng output.
func IsPcapngName(path string) bool { return strings.EqualFold(filepath.Ext(path), ".pcapng") }

// fileMeta is what a pcapng file's header blocks say about the capture.
type fileMeta struct {
	application string // shb_userappl; "" gives "connlint"
	iface       string // if_name
	filter      string // if_filter
}

// packetWriter is what fileWriter needs of pcapgo's Writer and NgWriter.
type packetWriter interface {
	WritePacket(ci gopacket.CaptureInfo, data []byte) error
}

// newNgWriter writes the pcapng header blocks to out (fileWriter's bufio
// writer, which NgWriter adopts as its own buffer since it is larger than
// bufio's default) and returns the writer for the packets.
func newNgWriter(out io.Writer, snaplen uint32, linkType int, meta fileMeta) (*pcapgo.NgWriter, error) {
	app := meta.application
	if app == "" {
		app = "connlint"
	}
	intf := pcapgo.NgInterface{
		Name:                meta.iface,
		Filter:              meta.filter,
		OS:                  runtime.GOOS,
		LinkType:            layers.LinkType(linkType),
		SnapLength:          snaplen,
		TimestampResolution: 9,
	}
	return pcapgo.NewNgWriterInterface(out, intf, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Application: app,
		OS:          runtime.GOOS,
		Hardware:    runtime.GOARCH,
	}})
}

// countWriter counts the bytes that reach the file, so that -C sees the
// file's size whatever the format's block sizes are.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// pcapng block types and the Decryption Secrets Block's TLS key log type.
const (
	ngBlockSHB     = 0x0A0D0D0A
	ngBlockIDB     = 0x00000001
	ngByteOrderMag = 0x1A2B3C4D
)

// EmbedKeyLog puts keyLog (SSLKEYLOGFILE lines) into the pcapng file at
// path as a Decryption Secrets Block of type TLSK, after the Section
// Header and Interface Description blocks and so before every packet,
// where Wireshark and tshark pick the keys up without a key log file:
//
//	uint32 block type 0x0000000A
//	uint32 block total length (20 + secrets length padded to 4)
//	uint32 secrets type 0x544c534b ("TLSK")
//	uint32 secrets length (unpadded)
//	secrets, zero-padded to a multiple of 4 bytes
//	uint32 block total length
//
// in the section's byte order. The file is rewritten through a temporary
// file in the same directory, renamed over it, so that an interrupted
// embed leaves the original capture intact; the result is private (0600)
// since it now holds session secrets. Only the first section is handled:
// files this package writes have one.
func EmbedKeyLog(path string, keyLog []byte) error {
	fail := func(err error) error { return fmt.Errorf("embed TLS keys in %s: %w", path, err) }
	if len(keyLog) == 0 {
		return fail(errors.New("no keys"))
	}
	in, err := os.Open(path)
	if err != nil {
		return fail(err)
	}
	defer in.Close()
	head, bo, err := ngHeaderBlocks(in)
	if err != nil {
		return fail(err)
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".embed-*") // 0600
	if err != nil {
		return fail(err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.CopyN(tmp, in, head); err != nil {
		return fail(err)
	}
	if _, err := tmp.Write(dsb(bo, ngSecretsTLSK, keyLog)); err != nil {
		return fail(err)
	}
	if _, err := io.Copy(tmp, in); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	// The temporary file is the embedding process's: when run has dropped
	// root for the sudo user, that user, who owns the capture already.
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fail(err)
	}
	done = true
	return nil
}

// ngHeaderBlocks returns the length of the leading Section Header and
// Interface Description blocks of a pcapng stream, and its byte order.
func ngHeaderBlocks(r io.Reader) (int64, binary.ByteOrder, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil || binary.LittleEndian.Uint32(hdr[0:4]) != ngBlockSHB {
		return 0, nil, errors.New("not a pcapng file")
	}
	var bo binary.ByteOrder
	switch {
	case binary.LittleEndian.Uint32(hdr[8:12]) == ngByteOrderMag:
		bo = binary.LittleEndian
	case binary.BigEndian.Uint32(hdr[8:12]) == ngByteOrderMag:
		bo = binary.BigEndian
	default:
		return 0, nil, errors.New("not a pcapng file (bad byte-order magic)")
	}
	off := int64(0)
	blockLen := int64(bo.Uint32(hdr[4:8]))
	skip := blockLen - 12
	for {
		if blockLen < 12 || blockLen%4 != 0 {
			return 0, nil, fmt.Errorf("corrupt pcapng block at offset %d (length %d)", off, blockLen)
		}
		if n, err := io.CopyN(io.Discard, r, skip); err != nil {
			return 0, nil, fmt.Errorf("truncated pcapng block at offset %d (%d of %d bytes)", off, n+blockLen-skip, blockLen)
		}
		off += blockLen
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			if err == io.EOF {
				return off, bo, nil // no packets: the keys go at the end
			}
			return 0, nil, fmt.Errorf("truncated pcapng block at offset %d", off)
		}
		if bo.Uint32(b[0:4]) != ngBlockIDB {
			return off, bo, nil
		}
		blockLen, skip = int64(bo.Uint32(b[4:8])), int64(bo.Uint32(b[4:8]))-8
	}
}

// dsb encodes a Decryption Secrets Block.
func dsb(bo binary.ByteOrder, secretsType uint32, secrets []byte) []byte {
	padded := (len(secrets) + 3) &^ 3
	total := 20 + padded
	b := make([]byte, total)
	bo.PutUint32(b[0:], ngBlockDSB)
	bo.PutUint32(b[4:], uint32(total))
	bo.PutUint32(b[8:], secretsType)
	bo.PutUint32(b[12:], uint32(len(secrets)))
	copy(b[16:], secrets)
	bo.PutUint32(b[total-4:], uint32(total))
	return b
}
