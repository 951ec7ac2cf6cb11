package bench

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Summary is the median, minimum and maximum of a set of runs.
type Summary struct {
	N                int
	Median, Min, Max time.Duration
}

// Summarize returns the summary of ds; the median of an even count is the
// mean of the middle two.
func Summarize(ds []time.Duration) Summary {
	if len(ds) == 0 {
		return Summary{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Summary{N: len(s), Median: med, Min: s[0], Max: s[len(s)-1]}
}

// String formats the summary as "1.23 s (1.10–1.40 s, 5 runs)".
func (s Summary) String() string {
	if s.N == 0 {
		return "no runs"
	}
	return fmt.Sprintf("%s (min %s, max %s, %d runs)", Dur(s.Median), Dur(s.Min), Dur(s.Max), s.N)
}

// Ratio is a/b of the medians.
func Ratio(a, b Summary) float64 {
	if b.Median == 0 {
		return math.NaN()
	}
	return float64(a.Median) / float64(b.Median)
}

// Dur formats d with three significant digits in ms or s.
func Dur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + Dur(-d)
	case d < time.Second:
		return fmt.Sprintf("%.3g ms", float64(d.Microseconds())/1000)
	default:
		return fmt.Sprintf("%.3g s", d.Seconds())
	}
}

// Ms is d in milliseconds, for metrics.
func Ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// IntSummary is the median, minimum and maximum of integer samples (bytes).
type IntSummary struct {
	N                int
	Median, Min, Max int64
}

// SummarizeInts summarizes xs like Summarize.
func SummarizeInts(xs []int64) IntSummary {
	if len(xs) == 0 {
		return IntSummary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return IntSummary{N: len(s), Median: med, Min: s[0], Max: s[len(s)-1]}
}

// MiB is n bytes in MiB.
func MiB(n int64) float64 { return float64(n) / (1 << 20) }

// Fit is a least-squares fit of log(y) = k·log(x) + c: k is the growth
// exponent (1 linear, 2 quadratic) between the sizes measured.
func Fit(xs, ys []float64) (k float64) {
	if len(xs) != len(ys) || len(xs) < 2 {
		return math.NaN()
	}
	var sx, sy, sxx, sxy float64
	n := float64(len(xs))
	for i := range xs {
		lx, ly := math.Log(xs[i]), math.Log(ys[i])
		sx += lx
		sy += ly
		sxx += lx * lx
		sxy += lx * ly
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

// Linear fits y = a + b·x by least squares.
func Linear(xs, ys []float64) (a, b float64) {
	if len(xs) != len(ys) || len(xs) < 2 {
		return math.NaN(), math.NaN()
	}
	var sx, sy, sxx, sxy float64
	n := float64(len(xs))
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	b = (n*sxy - sx*sy) / (n*sxx - sx*sx)
	a = (sy - b*sx) / n
	return a, b
}
