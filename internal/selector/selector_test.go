package selector

import "testing"

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		name, ns string
		want     bool
	}{
		{nil, "api", "stg", true},
		{[]string{"name=api"}, "api", "stg", true},
		{[]string{"name=api"}, "web", "stg", false},
		{[]string{"name!=api"}, "web", "stg", true},
		{[]string{"name=api,namespace=prod"}, "api", "stg", false},
		{[]string{"name=api,namespace=stg"}, "api", "stg", true},
		{[]string{"name=web", "name=api"}, "api", "stg", true},
		{[]string{"namespace!=stg"}, "api", "stg", false},
	} {
		s, err := Parse(tc.args)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Match(tc.name, tc.ns); got != tc.want {
			t.Errorf("%v on %s/%s = %v, want %v", tc.args, tc.ns, tc.name, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, a := range []string{"name", "tier=web", "name=", "=x"} {
		if _, err := Parse([]string{a}); err == nil {
			t.Errorf("%q parsed", a)
		}
	}
	s, _ := Parse([]string{"name=a", "name=b"})
	if s.String() != "-l name=a -l name=b" {
		t.Errorf("String() = %q", s.String())
	}
}
