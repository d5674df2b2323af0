package analyze

import (
	"fmt"
	"time"
)

// Durations in findings. Messages print them with FormatDuration; Attrs
// carry milliseconds as numbers (MS).

// MS is d in milliseconds as a float for Finding.Attrs, rounded to 1 µs.
func MS(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)) / float64(time.Millisecond)
}

// FormatDuration prints d for a message: milliseconds below a second with
// msDigits decimals ("40.2 ms" with 1, "40 ms" with 0), seconds with two
// decimals above ("3.10 s"), and with one from 10 s when tenSec is set
// ("12.5 s").
//
// Two styles are in use and kept so that messages do not change: Dur for
// most rules, DurCoarse for dumb-proxy-keepalive's hangs.
func FormatDuration(d time.Duration, msDigits int, tenSec bool) string {
	switch {
	case tenSec && d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.*f ms", msDigits, float64(d)/float64(time.Millisecond))
}

// Dur formats a duration for messages: "40.2 ms", "3.10 s", "12.5 s".
func Dur(d time.Duration) string { return FormatDuration(d, 1, true) }

// RTTWords names a round-trip time in a message: "the 1.2 ms RTT", or "the
// RTT (under 0.1 ms)" on loopback, where Dur would print "0.0 ms".
func RTTWords(rtt time.Duration) string {
	if rtt < 100*time.Microsecond {
		return "RTT (under 0.1 ms)"
	}
	return Dur(rtt) + " RTT"
}

// DurCoarse formats a long wait for messages: "40 ms", "3.10 s", "12.50 s".
func DurCoarse(d time.Duration) string { return FormatDuration(d, 0, false) }
