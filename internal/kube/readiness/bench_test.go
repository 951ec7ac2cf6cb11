package readiness

import (
	"strings"
	"testing"
)

// BenchmarkEvaluate measures one Evaluate call per fixture, as the watcher
// runs it on every watch event.
func BenchmarkEvaluate(b *testing.B) {
	for _, name := range fixtureFiles(b) {
		f := loadFixture(b, name)
		b.Run(strings.TrimSuffix(name, ".yaml"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Evaluate(f.obj, f.rel, Options{}, baseNow)
			}
		})
	}
}
