// Package pgsync is the Go client of pg-sync (pgsync.v1.PgSyncService): the source_ref hash,
// the unary calls and a WatchWakes iterator that resumes across reconnects without duplicates.
package pgsync

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// SourceOptions are upstream pgSync() options. Pointers and nil mean "absent" (JavaScript
// undefined); an empty Columns slice is absent too, while an empty PositionalParams is hashed.
type SourceOptions struct {
	// URL is the Electric shape endpoint; nil means the server default (not hashed).
	URL *string
	// Table is `name`, `schema.name` or quoted identifiers. Required.
	Table string
	// Columns to include, order kept (order changes the ref). Empty means all columns.
	Columns []string
	// Where is a row filter with $n placeholders; nil means none.
	Where *string
	// Params are the placeholder values: PositionalParams, NamedParams or nil.
	Params Params
	// Replica is "default", "full" or "" (treated as "default").
	Replica string
	// Metadata is identity metadata (hashed with the #4576 rule).
	Metadata map[string]string
}

// Params is PositionalParams or NamedParams.
type Params interface{ isParams() }

// PositionalParams is upstream's `params: string[]` form: values for $1, $2, ... in order.
type PositionalParams []string

// NamedParams is upstream's `params: Record<string,string>` form: "1", "2", ... to values.
type NamedParams map[string]string

func (PositionalParams) isParams() {}
func (NamedParams) isParams()      {}

// String returns a pointer to s, for the optional fields of SourceOptions.
func String(s string) *string { return &s }

// EphemeralMetadataKeys identify a request, not a source: never hashed (upstream #4576).
var EphemeralMetadataKeys = map[string]bool{"wakeId": true, "runtimeConsumerId": true, "streamPath": true}

const (
	fnvOffsetBasis uint64 = 0xcbf29ce484222325
	fnvPrime       uint64 = 0x100000001b3
)

var sourceRefPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

// IsSourceRef reports whether s has the shape of a source_ref (16 lowercase hex digits).
func IsSourceRef(s string) bool { return sourceRefPattern.MatchString(s) }

// FNV1a64 is 64-bit FNV-1a over the UTF-16 code units of s, as 16 lowercase hex digits
// (upstream's hashString). s must be valid UTF-8.
func FNV1a64(s string) string {
	h := fnvOffsetBasis
	for _, u := range utf16.Encode([]rune(s)) {
		h ^= uint64(u)
		h *= fnvPrime
	}
	return fmt.Sprintf("%016x", h)
}

// SourceRef is the deterministic source_ref of opts: 16 lowercase hex digits, byte for byte
// what upstream and the server compute.
func SourceRef(opts SourceOptions) (string, error) {
	c, err := CanonicalJSON(opts)
	if err != nil {
		return "", err
	}
	return FNV1a64(c), nil
}

// CanonicalJSON is the exact string that is hashed: JavaScript's JSON.stringify of upstream's
// canonical options (field order url, table, columns, where, params, replica, metadata).
func CanonicalJSON(opts SourceOptions) (string, error) {
	if err := validUTF8(opts); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteByte('{')
	field := func(name string) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		writeJSString(&b, name)
		b.WriteByte(':')
	}
	if opts.URL != nil {
		field("url")
		writeJSString(&b, *opts.URL)
	}
	field("table")
	writeJSString(&b, opts.Table)
	if len(opts.Columns) > 0 {
		field("columns")
		writeJSArray(&b, opts.Columns)
	}
	if opts.Where != nil {
		field("where")
		writeJSString(&b, *opts.Where)
	}
	switch p := opts.Params.(type) {
	case nil:
	case PositionalParams:
		field("params")
		writeJSArray(&b, p)
	case NamedParams:
		field("params")
		writeJSObject(&b, p, jsObjectOrder(jsSort(keysOf(p))))
	default:
		return "", fmt.Errorf("pgsync: unsupported params type %T", opts.Params)
	}
	replica := opts.Replica
	if replica == "" {
		replica = "default"
	}
	if replica != "default" && replica != "full" {
		return "", fmt.Errorf("pgsync: replica must be \"default\" or \"full\", got %q", opts.Replica)
	}
	field("replica")
	writeJSString(&b, replica)
	if md := IdentityMetadata(opts.Metadata); md != nil {
		field("metadata")
		writeJSObject(&b, md, jsObjectOrder(jsSort(keysOf(md))))
	}
	b.WriteByte('}')
	return b.String(), nil
}

// IdentityMetadata drops the ephemeral keys; nil when nothing is left.
func IdentityMetadata(md map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range md {
		if !EphemeralMetadataKeys[k] {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func validUTF8(opts SourceOptions) error {
	bad := func(what, s string) error {
		if !utf8.ValidString(s) {
			return fmt.Errorf("pgsync: %s is not valid UTF-8", what)
		}
		return nil
	}
	var errs []error
	if opts.URL != nil {
		errs = append(errs, bad("url", *opts.URL))
	}
	errs = append(errs, bad("table", opts.Table))
	if opts.Where != nil {
		errs = append(errs, bad("where", *opts.Where))
	}
	for _, c := range opts.Columns {
		errs = append(errs, bad("columns", c))
	}
	switch p := opts.Params.(type) {
	case PositionalParams:
		for _, v := range p {
			errs = append(errs, bad("params", v))
		}
	case NamedParams:
		for k, v := range p {
			errs = append(errs, bad("params", k), bad("params", v))
		}
	}
	for k, v := range opts.Metadata {
		errs = append(errs, bad("metadata", k), bad("metadata", v))
	}
	return errors.Join(errs...)
}

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// jsSort sorts like Array.prototype.sort() without a comparator: by UTF-16 code units.
func jsSort(keys []string) []string {
	type keyed struct {
		k string
		u []uint16
	}
	ks := make([]keyed, len(keys))
	for i, k := range keys {
		ks[i] = keyed{k, utf16.Encode([]rune(k))}
	}
	sort.Slice(ks, func(i, j int) bool {
		a, b := ks[i].u, ks[j].u
		for n := 0; n < len(a) && n < len(b); n++ {
			if a[n] != b[n] {
				return a[n] < b[n]
			}
		}
		return len(a) < len(b)
	})
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.k
	}
	return out
}

// isArrayIndex: a canonical non-negative integer string below 2^32-1 (a JS array index).
func isArrayIndex(k string) bool {
	if k == "" || (len(k) > 1 && k[0] == '0') {
		return false
	}
	for _, c := range k {
		if c < '0' || c > '9' {
			return false
		}
	}
	n, err := strconv.ParseUint(k, 10, 64)
	return err == nil && n <= 0xFFFFFFFE
}

// jsObjectOrder is JavaScript's own-property order for keys inserted in the given order:
// array-index keys ascending first, then the others in insertion order.
func jsObjectOrder(keys []string) []string {
	var idx, rest []string
	for _, k := range keys {
		if isArrayIndex(k) {
			idx = append(idx, k)
		} else {
			rest = append(rest, k)
		}
	}
	sort.Slice(idx, func(i, j int) bool {
		a, _ := strconv.ParseUint(idx[i], 10, 64)
		b, _ := strconv.ParseUint(idx[j], 10, 64)
		return a < b
	})
	return append(idx, rest...)
}

// writeJSList writes open, item(0..n-1) separated by commas, then end.
func writeJSList(b *strings.Builder, open, end byte, n int, item func(i int)) {
	b.WriteByte(open)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		item(i)
	}
	b.WriteByte(end)
}

func writeJSObject(b *strings.Builder, m map[string]string, order []string) {
	writeJSList(b, '{', '}', len(order), func(i int) {
		writeJSString(b, order[i])
		b.WriteByte(':')
		writeJSString(b, m[order[i]])
	})
}

func writeJSArray(b *strings.Builder, vs []string) {
	writeJSList(b, '[', ']', len(vs), func(i int) { writeJSString(b, vs[i]) })
}

// writeJSString writes JSON.stringify(s): only `"`, `\` and control characters are escaped
// (valid UTF-8 has no lone surrogates, so none need \u escapes).
func writeJSString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}
