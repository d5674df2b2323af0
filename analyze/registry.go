package analyze

// Rules is the catalogue. A plain slice, like cmd/vet's suite: adding a rule
// is adding a line to its family's list and a file beside its test.
var Rules = concat(proxyRules)

func concat(lists ...[]*Rule) []*Rule {
	var out []*Rule
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// Lookup finds a rule by ID.
func Lookup(id string) *Rule {
	for _, r := range Rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}
