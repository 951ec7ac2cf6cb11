package localfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestPlanWritesNothing: a dry pass's FS records what it would write and
// leaves the disk as it was, while answering reads as if the writes had
// happened.
func TestPlanWritesNothing(t *testing.T) {
	root := t.TempDir()
	existing := filepath.Join(root, "taken")
	if err := os.Mkdir(existing, 0o700); err != nil {
		t.Fatal(err)
	}
	p := NewPlan()
	dir := filepath.Join(root, "backups", "b1")
	if err := p.MkdirAll(filepath.Join(root, "backups"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := p.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := p.Mkdir(dir, 0o700); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Mkdir of a planned directory: %v, want ErrExist", err)
	}
	if err := p.Mkdir(existing, 0o700); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Mkdir of a directory on disk: %v, want ErrExist", err)
	}
	f := filepath.Join(dir, "a.json")
	if err := p.WriteFile(f+".tmp", []byte("12345"), 0o600, false); err != nil {
		t.Fatal(err)
	}
	if err := p.Rename(f+".tmp", f); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteFile(f, []byte("x"), 0o600, true); !errors.Is(err, fs.ErrExist) {
		t.Errorf("exclusive write over a planned file: %v, want ErrExist", err)
	}
	if st, err := p.Stat(f); err != nil || st.Size() != 5 || st.IsDir() {
		t.Errorf("Stat(planned file) = %v, %v", st, err)
	}
	if got := p.Files(); len(got) != 1 || got[f] != 5 {
		t.Errorf("Files() = %v", got)
	}
	if !p.Dry() || Disk.Dry() {
		t.Errorf("Dry(): plan %v, disk %v", p.Dry(), Disk.Dry())
	}
	// Nothing reached the disk.
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "taken" {
		t.Fatalf("the plan wrote to disk: %v", entries)
	}
}

func TestDiskWrites(t *testing.T) {
	root := t.TempDir()
	d := filepath.Join(root, "d")
	if err := Disk.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(d, "f")
	if err := Disk.WriteFile(f, []byte("abc"), 0o600, true); err != nil {
		t.Fatal(err)
	}
	if err := Disk.WriteFile(f, []byte("abc"), 0o600, true); !errors.Is(err, fs.ErrExist) {
		t.Errorf("exclusive write over a file: %v", err)
	}
	st, err := os.Stat(f)
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() != 3 {
		t.Fatalf("file: %v, %v", st, err)
	}
	if st, _ := os.Stat(d); st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", st.Mode().Perm())
	}
}
