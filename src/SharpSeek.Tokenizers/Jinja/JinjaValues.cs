using System.Globalization;
using System.Text;

namespace SharpSeek.Tokenizers.Jinja;

/// <summary>Jinja2's Undefined: prints as "", is falsy, iterates as empty; using it in arithmetic or
/// concatenation, or reading an attribute of it, is an error (as in Jinja2).</summary>
public sealed class Undefined
{
    public static readonly Undefined Instance = new();
    private Undefined() { }
    public override string ToString() => "";
}

/// <summary>Jinja2's <c>namespace(...)</c>: a mutable attribute bag that <c>{% set ns.x = … %}</c> can write from
/// inside loops.</summary>
public sealed class Namespace(Dictionary<string, object?> values)
{
    public Dictionary<string, object?> Values { get; } = values;
}

/// <summary>A callable value (globals such as <c>raise_exception</c>, bound string/dict methods).</summary>
public delegate object? JinjaCallable(List<object?> args, Dictionary<string, object?> kwargs);

/// <summary>Python semantics for the value model: null = None, bool, long, double, string,
/// List&lt;object?&gt;, Dictionary&lt;string, object?&gt; (insertion-ordered), Namespace, Undefined.</summary>
public static class PyValues
{
    public static bool Truthy(object? v) => v switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        Dictionary<string, object?> d => d.Count > 0,
        _ => true,
    };

    /// <summary>Python <c>str(v)</c>.</summary>
    public static string Str(object? v) => v switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(v),
    };

    /// <summary>Python <c>repr(v)</c> for the value model.</summary>
    public static string Repr(object? v)
    {
        switch (v)
        {
            case null: return "None";
            case Undefined: return "";
            case bool b: return b ? "True" : "False";
            case long l: return l.ToString(CultureInfo.InvariantCulture);
            case double d: return FloatRepr(d);
            case string s: return StringRepr(s);
            case List<object?> list: return "[" + string.Join(", ", list.Select(Repr)) + "]";
            case Dictionary<string, object?> dict: return "{" + string.Join(", ", dict.Select(kv => StringRepr(kv.Key) + ": " + Repr(kv.Value))) + "}";
            case Namespace: return "<Namespace>";
            default: return v.ToString() ?? "";
        }
    }

    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        if (d == Math.Floor(d) && Math.Abs(d) < 1e16) return d.ToString("0.0", CultureInfo.InvariantCulture);
        string r = d.ToString("R", CultureInfo.InvariantCulture);
        return r.Contains('E') ? r.Replace("E", "e") : r;
    }

    private static string StringRepr(string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var sb = new StringBuilder().Append(quote);
        foreach (char c in s)
        {
            if (c == quote || c == '\\') sb.Append('\\').Append(c);
            else if (c == '\n') sb.Append("\\n");
            else if (c == '\r') sb.Append("\\r");
            else if (c == '\t') sb.Append("\\t");
            else if (c < 0x20 || c == 0x7f) sb.Append($"\\x{(int)c:x2}");
            else sb.Append(c);
        }
        return sb.Append(quote).ToString();
    }

    /// <summary>Python <c>json.dumps(v, ensure_ascii=False, indent=indent)</c>, as transformers' tojson filter
    /// calls it (separators ", " and ": "; with indent, "," at line ends).</summary>
    public static string ToJson(object? v, int? indent = null)
    {
        var sb = new StringBuilder();
        WriteJson(sb, v, indent, 0);
        return sb.ToString();
    }

    private static void WriteJson(StringBuilder sb, object? v, int? indent, int depth)
    {
        switch (v)
        {
            case null or Undefined: sb.Append("null"); return;
            case bool b: sb.Append(b ? "true" : "false"); return;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); return;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsInfinity(d) ? (d > 0 ? "Infinity" : "-Infinity") : FloatRepr(d));
                return;
            case string s: JsonString(sb, s); return;
            case List<object?> list:
                WriteContainer(sb, '[', ']', list.Count, indent, depth, i => WriteJson(sb, list[i], indent, depth + 1));
                return;
            case Dictionary<string, object?> dict:
                var entries = dict.ToList();
                WriteContainer(sb, '{', '}', entries.Count, indent, depth, i =>
                {
                    JsonString(sb, entries[i].Key);
                    sb.Append(": ");
                    WriteJson(sb, entries[i].Value, indent, depth + 1);
                });
                return;
            default: throw new JinjaException($"Object of type {v.GetType().Name} is not JSON serializable.");
        }
    }

    private static void WriteContainer(StringBuilder sb, char open, char close, int count, int? indent, int depth, Action<int> item)
    {
        sb.Append(open);
        if (count == 0) { sb.Append(close); return; }
        for (int i = 0; i < count; i++)
        {
            if (i > 0) sb.Append(indent is null ? ", " : ",");
            if (indent is not null) sb.Append('\n').Append(' ', indent.Value * (depth + 1));
            item(i);
        }
        if (indent is not null) sb.Append('\n').Append(' ', indent.Value * depth);
        sb.Append(close);
    }

    private static void JsonString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20) sb.Append($"\\u{(int)c:x4}");
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    /// <summary>Python <c>==</c> across the value model (1 == 1.0, lists and dicts by value).</summary>
    public static bool PyEquals(object? a, object? b)
    {
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (IsNumber(a) && IsNumber(b)) return ToDouble(a) == ToDouble(b);
        return (a, b) switch
        {
            (null, null) => true,
            (string x, string y) => x == y,
            (List<object?> x, List<object?> y) => x.Count == y.Count && x.Zip(y).All(p => PyEquals(p.First, p.Second)),
            (Dictionary<string, object?> x, Dictionary<string, object?> y) =>
                x.Count == y.Count && x.All(kv => y.TryGetValue(kv.Key, out var o) && PyEquals(kv.Value, o)),
            _ => ReferenceEquals(a, b),
        };
    }

    public static bool IsNumber(object? v) => v is long or double or bool;

    public static double ToDouble(object? v) => v switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => throw new JinjaException($"expected a number, got {TypeName(v)}."),
    };

    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        Undefined => "Undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        Dictionary<string, object?> => "dict",
        _ => v.GetType().Name,
    };

    /// <summary>Converts plain .NET data (JSON elements, arrays, dictionaries, numbers) into the value model.</summary>
    public static object? From(object? v) => v switch
    {
        null => null,
        string or bool or long or double or Undefined or Namespace or JinjaCallable => v,
        int i => (long)i,
        float f => (double)f,
        System.Text.Json.JsonElement e => FromJson(e),
        System.Text.Json.Nodes.JsonNode n => FromJson(System.Text.Json.JsonSerializer.SerializeToElement(n)),
        IDictionary<string, object?> d => d.ToDictionary(kv => kv.Key, kv => From(kv.Value)),
        IDictionary<string, string> d => d.ToDictionary(kv => kv.Key, kv => (object?)kv.Value),
        System.Collections.IEnumerable e => e.Cast<object?>().Select(From).ToList(),
        _ => throw new ArgumentException($"Cannot pass a {v.GetType().Name} to a chat template; use strings, numbers, lists and dictionaries."),
    };

    private static object? FromJson(System.Text.Json.JsonElement e) => e.ValueKind switch
    {
        System.Text.Json.JsonValueKind.Null or System.Text.Json.JsonValueKind.Undefined => null,
        System.Text.Json.JsonValueKind.True => true,
        System.Text.Json.JsonValueKind.False => false,
        System.Text.Json.JsonValueKind.String => e.GetString(),
        System.Text.Json.JsonValueKind.Number => e.TryGetInt64(out long l) ? (object)l : e.GetDouble(),
        System.Text.Json.JsonValueKind.Array => e.EnumerateArray().Select(FromJson).ToList(),
        _ => e.EnumerateObject().ToDictionary(p => p.Name, p => FromJson(p.Value)),
    };
}
