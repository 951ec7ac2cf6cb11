package bench

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// WriteDelayedProject copies what a platform plan reads from the
// repository at root (plans/, charts/, environments/, testdata/charts/)
// into dir, with a .plateroot, and gives each app of environment env named
// in delays an extra values file that sets the pod annotation
// plate.dev/ready-delay (the local control plane then keeps its pods
// Running but not Ready for that long, like a container that takes a while
// to start). It returns dir.
func WriteDelayedProject(root, dir, env string, delays map[string]time.Duration) (string, error) {
	for _, sub := range []string{"plans", "charts", "environments", filepath.Join("testdata", "charts")} {
		if err := copyTree(filepath.Join(root, sub), filepath.Join(dir, sub)); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ".plateroot"), nil, 0o644); err != nil {
		return "", err
	}
	envFile := filepath.Join(dir, "environments", env+".yaml")
	data, err := os.ReadFile(envFile)
	if err != nil {
		return "", err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return "", fmt.Errorf("%s: %w", envFile, err)
	}
	apps, _ := doc["apps"].([]any)
	found := map[string]bool{}
	for _, a := range apps {
		app, _ := a.(map[string]any)
		name, _ := app["name"].(string)
		d, ok := delays[name]
		if !ok {
			continue
		}
		found[name] = true
		rel := filepath.ToSlash(filepath.Join("bench", "delay-"+name+".yaml"))
		values := fmt.Sprintf("podAnnotations:\n  plate.dev/ready-delay: %q\n", d.String())
		if err := os.MkdirAll(filepath.Join(dir, "bench"), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(rel)), []byte(values), 0o644); err != nil {
			return "", err
		}
		vs, _ := app["values"].([]any)
		app["values"] = append(vs, rel)
	}
	var missing []string
	for name := range delays {
		if !found[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return "", fmt.Errorf("%s has no app %s", envFile, strings.Join(missing, ", "))
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return "", err
	}
	return dir, os.WriteFile(envFile, out, 0o644)
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
