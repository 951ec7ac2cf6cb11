// Package suggest proposes the nearest known name for a mistyped one.
package suggest

import (
	"fmt"
	"strings"
)

// Nearest returns the candidate closest to name by edit distance, if it is
// close enough to be a likely typo, or "".
func Nearest(name string, candidates []string) string {
	best, bestD := "", -1
	lname := strings.ToLower(name)
	for _, c := range candidates {
		d := distance(lname, strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	limit := max(1, min(len(name), len(best))/3)
	if bestD <= limit {
		return best
	}
	// A prefix either way ("env" for "enviroment", "repl" for "replicas").
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if len(lc) >= 3 && strings.HasPrefix(lname, lc) || len(lname) >= 3 && strings.HasPrefix(lc, lname) {
			return c
		}
	}
	return ""
}

// DidYouMean returns `; did you mean "x"?` for the nearest candidate, or "".
func DidYouMean(name string, candidates []string) string {
	if n := Nearest(name, candidates); n != "" && n != name {
		return fmt.Sprintf("; did you mean %q?", n)
	}
	return ""
}

// distance is the Damerau–Levenshtein distance (optimal string alignment).
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
