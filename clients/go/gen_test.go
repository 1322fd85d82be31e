package pgsync

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedCodeIsCurrent regenerates gen/ from /proto into a temporary directory (buf with
// the pinned local plugins, exactly as generate.sh does) and compares it with the committed code,
// so a proto change cannot ship with a stale Go client. scripts/test-go.sh installs the plugins.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	root := repoRoot()
	for _, plugin := range []string{"protoc-gen-go", "protoc-gen-go-grpc"} {
		if _, err := os.Stat(filepath.Join(root, ".tools/go/bin", plugin)); err != nil {
			t.Fatalf("%s is not installed: run clients/go/generate.sh or scripts/test-go.sh (%v)", plugin, err)
		}
	}
	buf, err := exec.LookPath("buf")
	if err != nil {
		t.Fatalf("buf is not on PATH (source scripts/bootstrap.sh): %v", err)
	}
	out := t.TempDir()
	cmd := exec.Command(buf, "generate", "--template", "clients/go/buf.gen.yaml", "-o", out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buf generate: %v\n%s", err, b)
	}
	fresh := filepath.Join(out, "clients/go/gen")
	committed := filepath.Join(root, "clients/go/gen")
	seen := map[string]bool{}
	err = filepath.WalkDir(fresh, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(fresh, path)
		seen[rel] = true
		want, _ := os.ReadFile(path)
		got, readErr := os.ReadFile(filepath.Join(committed, rel))
		if readErr != nil || !bytes.Equal(got, want) {
			t.Errorf("clients/go/gen/%s is out of date: run clients/go/generate.sh and commit the result", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = filepath.WalkDir(committed, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(committed, path)
			if !seen[rel] {
				t.Errorf("clients/go/gen/%s is not generated from proto/ any more: delete it", rel)
			}
		}
		return err
	})
}
