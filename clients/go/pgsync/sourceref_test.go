package pgsync

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

type vectorFile struct {
	EmptyStringHash string `json:"empty_string_hash"`
	UpstreamV1Only  struct {
		Options   json.RawMessage `json:"options"`
		SourceRef string          `json:"source_ref"`
	} `json:"upstream_v1_only"`
	Vectors []struct {
		Name      string          `json:"name"`
		Options   json.RawMessage `json:"options"`
		Canonical string          `json:"canonical"`
		SourceRef string          `json:"source_ref"`
	} `json:"vectors"`
}

// optionsFromJSON reads upstream-shaped JSON options (params as array or object).
func optionsFromJSON(t *testing.T, raw json.RawMessage) SourceOptions {
	t.Helper()
	var o struct {
		URL      *string           `json:"url"`
		Table    string            `json:"table"`
		Columns  []string          `json:"columns"`
		Where    *string           `json:"where"`
		Params   json.RawMessage   `json:"params"`
		Replica  string            `json:"replica"`
		Metadata map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatal(err)
	}
	opts := SourceOptions{URL: o.URL, Table: o.Table, Columns: o.Columns, Where: o.Where, Replica: o.Replica, Metadata: o.Metadata}
	if len(o.Params) > 0 && string(o.Params) != "null" {
		if o.Params[0] == '[' {
			var p PositionalParams
			if err := json.Unmarshal(o.Params, &p); err != nil {
				t.Fatal(err)
			}
			if p == nil {
				p = PositionalParams{}
			}
			opts.Params = p
		} else {
			var p NamedParams
			if err := json.Unmarshal(o.Params, &p); err != nil {
				t.Fatal(err)
			}
			opts.Params = p
		}
	}
	return opts
}

func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(here), "..", "..", "..", "test", "vectors", "source-ref.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v vectorFile
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Vectors) < 10 {
		t.Fatalf("only %d vectors in %s", len(v.Vectors), path)
	}
	return v
}

func TestSourceRefVectors(t *testing.T) {
	v := loadVectors(t)
	for _, vec := range v.Vectors {
		t.Run(vec.Name, func(t *testing.T) {
			opts := optionsFromJSON(t, vec.Options)
			canonical, err := CanonicalJSON(opts)
			if err != nil {
				t.Fatal(err)
			}
			if canonical != vec.Canonical {
				t.Fatalf("canonical\n got %s\nwant %s", canonical, vec.Canonical)
			}
			ref, err := SourceRef(opts)
			if err != nil {
				t.Fatal(err)
			}
			if ref != vec.SourceRef {
				t.Fatalf("source_ref got %s want %s", ref, vec.SourceRef)
			}
			if FNV1a64(vec.Canonical) != vec.SourceRef {
				t.Fatalf("hash of canonical string differs")
			}
		})
	}
	if FNV1a64("") != v.EmptyStringHash {
		t.Fatalf("empty string hash %s", FNV1a64(""))
	}
	if ref, _ := SourceRef(optionsFromJSON(t, v.UpstreamV1Only.Options)); ref == v.UpstreamV1Only.SourceRef {
		t.Fatalf("got the #4421 ref; we follow #4576")
	}
}

func TestSourceRefJSOrderingAndErrors(t *testing.T) {
	got, err := CanonicalJSON(SourceOptions{Table: "t", Metadata: map[string]string{"b": "1", "10": "x", "2": "y", "01": "z", "a": "w", "\uff5e": "1", "\U0001f600": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"table":"t","replica":"default","metadata":{"2":"y","10":"x","01":"z","a":"w","b":"1","` + "\U0001f600" + `":"2","` + "\uff5e" + `":"1"}}`
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	got, _ = CanonicalJSON(SourceOptions{Table: "a\u2028/\x01\x7f"})
	if want := "{\"table\":\"a\u2028/\\u0001\x7f\",\"replica\":\"default\"}"; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	if _, err := SourceRef(SourceOptions{Table: "t", Replica: "partial"}); err == nil {
		t.Fatal("bad replica accepted")
	}
	if _, err := SourceRef(SourceOptions{Table: "\xff"}); err == nil {
		t.Fatal("invalid UTF-8 accepted")
	}
	empty, _ := SourceRef(SourceOptions{Table: "todos", Columns: []string{}})
	base, _ := SourceRef(SourceOptions{Table: "todos"})
	withParams, _ := SourceRef(SourceOptions{Table: "todos", Params: PositionalParams{}})
	if empty != base || withParams == base || !IsSourceRef(base) {
		t.Fatalf("absent/empty handling: %s %s %s", empty, base, withParams)
	}
}
