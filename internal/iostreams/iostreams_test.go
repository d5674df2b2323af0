package iostreams

import (
	"os"
	"testing"
)

func TestColorEnabled(t *testing.T) {
	cases := []struct {
		mode         string
		tty, noColor bool
		want         bool
	}{
		{"auto", true, false, true},
		{"auto", false, false, false}, // piped: no escape codes in files
		{"auto", true, true, false},   // NO_COLOR wins over a terminal
		{"always", false, true, true}, // an explicit flag wins over NO_COLOR
		{"never", true, false, false},
	}
	for _, c := range cases {
		io, _, _, _ := Test()
		io.SetStdoutTTY(c.tty)
		io.SetNoColor(c.noColor)
		if got := io.ColorEnabled(c.mode); got != c.want {
			t.Errorf("mode %s tty %t NO_COLOR %t: colour %t, want %t", c.mode, c.tty, c.noColor, got, c.want)
		}
	}
}

func TestNewDetects(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := New(nil, f, f)
	if s.IsStdoutTTY() || s.IsStderrTTY() {
		t.Error("a regular file counts as a terminal")
	}
	s.SetStdoutTTY(true)
	if s.ColorEnabled("auto") {
		t.Error("NO_COLOR from the environment was not honoured")
	}
}
