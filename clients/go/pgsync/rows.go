package pgsync

import (
	"math"

	pgsyncv1 "github.com/pg-sync/pg-sync/clients/go/pgsync/gen/pgsync/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// maxExactInt is 2^53: every integer up to it in magnitude is exact in a float64.
const maxExactInt = 1 << 53

// Row returns a change's column values (Change.Value) as plain Go values, or nil when unset.
//
// A google.protobuf.Struct has a single number type (float64), so an int4 id of 4 arrives as
// 4.0; Row turns every whole number up to 2^53 in magnitude into an int64 (a float column
// holding a whole number comes back as an int64 too). int8 and numeric columns arrive as
// strings with full precision and stay strings (strconv.ParseInt or a decimal library converts
// them). Other values map as structpb does: string, bool, nil, []any, map[string]any.
func Row(c *pgsyncv1.Change) map[string]any { return plainStruct(c.GetValue()) }

// OldRow is Row for Change.OldValue: the previous values of the changed columns (updates with
// REPLICA_FULL), or nil when unset.
func OldRow(c *pgsyncv1.Change) map[string]any { return plainStruct(c.GetOldValue()) }

func plainStruct(s *structpb.Struct) map[string]any {
	if s == nil {
		return nil
	}
	out := make(map[string]any, len(s.GetFields()))
	for k, v := range s.GetFields() {
		out[k] = plainValue(v)
	}
	return out
}

func plainValue(v *structpb.Value) any {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		n := k.NumberValue
		if n == math.Trunc(n) && math.Abs(n) <= maxExactInt {
			return int64(n)
		}
		return n
	case *structpb.Value_StringValue:
		return k.StringValue
	case *structpb.Value_BoolValue:
		return k.BoolValue
	case *structpb.Value_StructValue:
		return plainStruct(k.StructValue)
	case *structpb.Value_ListValue:
		out := make([]any, len(k.ListValue.GetValues()))
		for i, item := range k.ListValue.GetValues() {
			out[i] = plainValue(item)
		}
		return out
	}
	return nil // NullValue, or no kind at all
}
