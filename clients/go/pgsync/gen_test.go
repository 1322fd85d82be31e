package pgsync

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// requireGenerator is set by scripts/test-go.sh, which installs the generators: there a missing
// generator fails the drift test instead of skipping it.
const requireGenerator = "PGSYNC_REQUIRE_GENERATOR"

// generatorMissing skips the drift test (or fails it under scripts/test-go.sh) when the project's
// code generator is not installed, so `go test ./...` passes with nothing but Go.
func generatorMissing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...) + "; the generated-code drift check needs the project's generator (scripts/test-go.sh installs it)"
	if os.Getenv(requireGenerator) != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// TestGeneratedCodeIsCurrent regenerates gen/ from /proto into a temporary directory (buf with
// the pinned local plugins, exactly as generate.sh does) and compares it with the committed code,
// so a proto change cannot ship with a stale Go client. Skipped, with a message, when buf or the
// plugins are absent; scripts/test-go.sh installs them and requires the check.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	root := repoRoot()
	for _, plugin := range []string{"protoc-gen-go", "protoc-gen-go-grpc"} {
		if _, err := os.Stat(filepath.Join(root, ".tools/go/bin", plugin)); err != nil {
			generatorMissing(t, "%s is not installed in .tools/go/bin (clients/go/pgsync/generate.sh --install-only)", plugin)
		}
	}
	buf, err := exec.LookPath("buf")
	if err != nil {
		generatorMissing(t, "buf is not on PATH (source scripts/bootstrap.sh)")
	}
	out := t.TempDir()
	cmd := exec.Command(buf, "generate", "--template", "clients/go/pgsync/buf.gen.yaml", "-o", out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buf generate: %v\n%s", err, b)
	}
	fresh := filepath.Join(out, "clients/go/pgsync/gen")
	committed := filepath.Join(root, "clients/go/pgsync/gen")
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
			t.Errorf("clients/go/pgsync/gen/%s is out of date: run clients/go/pgsync/generate.sh and commit the result", rel)
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
				t.Errorf("clients/go/pgsync/gen/%s is not generated from proto/ any more: delete it", rel)
			}
		}
		return err
	})
}
