using System.Globalization;
using System.Net;

namespace SharpSeek.Tokenizers.Jinja;

/// <summary>Attribute and item access, operators, filters, tests and methods with Python/Jinja2 semantics.</summary>
internal static class JinjaBuiltins
{
    public static object? GetAttr(object? target, string name, int line)
    {
        switch (target)
        {
            case Undefined: throw new JinjaException($"line {line}: cannot read attribute '{name}' of an undefined value.");
            case Namespace ns: return ns.Values.TryGetValue(name, out var v) ? v : Undefined.Instance;
            case Dictionary<string, object?> d:
                return DictMethod(d, name) ?? (d.TryGetValue(name, out var item) ? item : Undefined.Instance);
            case string s: return (object?)StringMethod(s, name, line) ?? Undefined.Instance;
            case List<object?> l when long.TryParse(name, out long index): return GetItem(l, index, line);
            default: return Undefined.Instance;
        }
    }

    public static object? GetItem(object? target, object? key, int line)
    {
        switch (target)
        {
            case Undefined: throw new JinjaException($"line {line}: cannot index an undefined value.");
            case Dictionary<string, object?> d when key is string k:
                return d.TryGetValue(k, out var v) ? v : (object?)DictMethod(d, k) ?? Undefined.Instance;
            case List<object?> l when key is long i:
                if (i < 0) i += l.Count;
                return i >= 0 && i < l.Count ? l[(int)i] : Undefined.Instance;
            case string s when key is long i:
                if (i < 0) i += s.Length;
                return i >= 0 && i < s.Length ? s[(int)i].ToString() : Undefined.Instance;
            case Namespace ns when key is string k: return ns.Values.TryGetValue(k, out var nv) ? nv : Undefined.Instance;
            default:
                return key is string name ? GetAttr(target, name, line) : Undefined.Instance;
        }
    }

    public static object? Slice(object? target, object? start, object? stop, object? step, int line)
    {
        long st = step is null ? 1 : (long)PyValues.ToDouble(step);
        if (st == 0) throw new JinjaException($"line {line}: slice step cannot be zero.");
        List<object?> items = target is string s ? s.Select(c => (object?)c.ToString()).ToList() : Iterate(target, line);
        int n = items.Count;
        long Clamp(object? v, long dflt)
        {
            if (v is null) return dflt;
            long x = (long)PyValues.ToDouble(v);
            if (x < 0) x += n;
            return st > 0 ? Math.Clamp(x, 0, n) : Math.Clamp(x, -1, n - 1);
        }
        long a = Clamp(start, st > 0 ? 0 : n - 1), b = Clamp(stop, st > 0 ? n : -1);
        var result = new List<object?>();
        for (long i = a; st > 0 ? i < b : i > b; i += st) result.Add(items[(int)i]);
        return target is string ? string.Concat(result.Cast<string>()) : result;
    }

    public static List<object?> Iterate(object? v, int line) => v switch
    {
        Undefined => [],
        List<object?> l => l,
        Dictionary<string, object?> d => d.Keys.Select(k => (object?)k).ToList(),
        string s => s.EnumerateRunes().Select(r => (object?)r.ToString()).ToList(),
        _ => throw new JinjaException($"line {line}: {PyValues.TypeName(v)} object is not iterable."),
    };

    public static List<object?> Range(List<object?> args)
    {
        long start = 0, stop, step = 1;
        if (args.Count == 1) stop = (long)PyValues.ToDouble(args[0]);
        else { start = (long)PyValues.ToDouble(args[0]); stop = (long)PyValues.ToDouble(args[1]); if (args.Count > 2) step = (long)PyValues.ToDouble(args[2]); }
        var r = new List<object?>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step) r.Add(i);
        return r;
    }

    public static object? BinaryOp(string op, object? a, object? b, int line)
    {
        switch (op)
        {
            case "==": return PyValues.PyEquals(a, b);
            case "!=": return !PyValues.PyEquals(a, b);
            case "~": return PyValues.Str(a) + PyValues.Str(b);
            case "in": return Contains(b, a, line);
            case "<" or ">" or "<=" or ">=":
            {
                int c = a is string x && b is string y ? string.CompareOrdinal(x, y)
                    : PyValues.IsNumber(a) && PyValues.IsNumber(b) ? PyValues.ToDouble(a).CompareTo(PyValues.ToDouble(b))
                    : throw TypeError(op, a, b, line);
                return op switch { "<" => c < 0, ">" => c > 0, "<=" => c <= 0, _ => c >= 0 };
            }
        }
        if (op == "+" && a is string s1 && b is string s2) return s1 + s2;
        if (op == "+" && a is List<object?> l1 && b is List<object?> l2) return l1.Concat(l2).ToList();
        if (op == "*" && a is string rs && b is long rn) return string.Concat(Enumerable.Repeat(rs, (int)Math.Max(0, rn)));
        if (!PyValues.IsNumber(a) || !PyValues.IsNumber(b)) throw TypeError(op, a, b, line);
        if (a is not double && b is not double) return IntegerOp(op, ToLong(a), ToLong(b), line);
        double fx = PyValues.ToDouble(a), fy = PyValues.ToDouble(b);
        switch (op)
        {
            case "+": return fx + fy;
            case "-": return fx - fy;
            case "*": return fx * fy;
            case "/": return fy == 0 ? throw new JinjaException($"line {line}: division by zero.") : fx / fy;
            case "//": return fy == 0 ? throw new JinjaException($"line {line}: division by zero.") : Math.Floor(fx / fy);
            case "%": return fy == 0 ? throw new JinjaException($"line {line}: modulo by zero.") : fx - fy * Math.Floor(fx / fy);
            case "**": return Math.Pow(fx, fy);
            default: throw new JinjaException($"line {line}: unknown operator '{op}'.");
        }
    }

    private static long ToLong(object? v) => v is bool b ? (b ? 1 : 0) : (long)v!;

    private static object IntegerOp(string op, long x, long y, int line)
    {
        switch (op)
        {
            case "+": return x + y;
            case "-": return x - y;
            case "*": return x * y;
            case "/": return y == 0 ? throw new JinjaException($"line {line}: division by zero.") : (double)x / y;
            case "//" or "%":
                if (y == 0) throw new JinjaException($"line {line}: integer division or modulo by zero.");
                long q = x / y, r = x % y;
                if (r != 0 && (r < 0) != (y < 0)) { q--; r += y; } // Python floors
                return op == "//" ? q : r;
            case "**": return y >= 0 ? (object)(long)Math.Pow(x, y) : Math.Pow(x, y);
            default: throw new JinjaException($"line {line}: unknown operator '{op}'.");
        }
    }

    private static JinjaException TypeError(string op, object? a, object? b, int line) =>
        new($"line {line}: unsupported operand types for {op}: '{PyValues.TypeName(a)}' and '{PyValues.TypeName(b)}'.");

    private static bool Contains(object? container, object? item, int line) => container switch
    {
        string s when item is string sub => s.Contains(sub, StringComparison.Ordinal),
        List<object?> l => l.Any(x => PyValues.PyEquals(x, item)),
        Dictionary<string, object?> d => item is string k && d.ContainsKey(k),
        Namespace ns => item is string k && ns.Values.ContainsKey(k),
        Undefined => false,
        _ => throw new JinjaException($"line {line}: argument of type '{PyValues.TypeName(container)}' is not iterable."),
    };

    private static JinjaCallable? DictMethod(Dictionary<string, object?> d, string name) => name switch
    {
        "get" => (args, _) => args.Count > 0 && args[0] is string k && d.TryGetValue(k, out var v) ? v : args.Count > 1 ? args[1] : null,
        "items" => (_, _) => d.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList(),
        "keys" => (_, _) => d.Keys.Select(k => (object?)k).ToList(),
        "values" => (_, _) => d.Values.ToList(),
        _ => null,
    };

    private static JinjaCallable? StringMethod(string s, string name, int line) => name switch
    {
        "strip" => (args, _) => args.Count > 0 && args[0] is string cs ? s.Trim(cs.ToCharArray()) : s.Trim(),
        "lstrip" => (args, _) => args.Count > 0 && args[0] is string cs ? s.TrimStart(cs.ToCharArray()) : s.TrimStart(),
        "rstrip" => (args, _) => args.Count > 0 && args[0] is string cs ? s.TrimEnd(cs.ToCharArray()) : s.TrimEnd(),
        "lower" => (_, _) => s.ToLowerInvariant(),
        "upper" => (_, _) => s.ToUpperInvariant(),
        "title" => (_, _) => Title(s),
        "capitalize" => (_, _) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant(),
        "startswith" => (args, _) => args.Count > 0 && args[0] is string p && s.StartsWith(p, StringComparison.Ordinal),
        "endswith" => (args, _) => args.Count > 0 && args[0] is string p && s.EndsWith(p, StringComparison.Ordinal),
        "replace" => (args, _) => s.Replace(PyValues.Str(args[0]), PyValues.Str(args[1]), StringComparison.Ordinal),
        "find" => (args, _) => (long)s.IndexOf(PyValues.Str(args[0]), StringComparison.Ordinal),
        "split" => (args, kwargs) => Split(s, args.Count > 0 ? args[0] : kwargs.GetValueOrDefault("sep"),
            args.Count > 1 ? (long)PyValues.ToDouble(args[1]) : kwargs.TryGetValue("maxsplit", out var ms) ? (long)PyValues.ToDouble(ms) : -1),
        _ => null,
    };

    private static List<object?> Split(string s, object? sep, long maxSplit)
    {
        if (sep is string sp)
        {
            var parts = maxSplit < 0 ? s.Split(sp) : s.Split(sp, (int)maxSplit + 1);
            return parts.Select(p => (object?)p).ToList();
        }
        // Python's split(): runs of whitespace, no empty strings.
        var words = new List<object?>();
        int i = 0;
        while (i < s.Length)
        {
            while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
            if (i >= s.Length) break;
            if (maxSplit >= 0 && words.Count == maxSplit) { words.Add(s[i..].TrimEnd()); break; }
            int start = i;
            while (i < s.Length && !char.IsWhiteSpace(s[i])) i++;
            words.Add(s[start..i]);
        }
        return words;
    }

    private static string Title(string s)
    {
        var chars = s.ToCharArray();
        bool prevLetter = false;
        for (int i = 0; i < chars.Length; i++)
        {
            chars[i] = prevLetter ? char.ToLowerInvariant(chars[i]) : char.ToUpperInvariant(chars[i]);
            prevLetter = char.IsLetter(chars[i]);
        }
        return new string(chars);
    }

    public static object? Filter(string name, object? v, List<object?> args, Dictionary<string, object?> kwargs, int line)
    {
        object? Arg(int i, string key, object? dflt) => i < args.Count ? args[i] : kwargs.TryGetValue(key, out var x) ? x : dflt;
        switch (name)
        {
            case "tojson":
                object? indent = Arg(0, "indent", null);
                return PyValues.ToJson(v, indent is null ? null : (int)PyValues.ToDouble(indent));
            case "trim": return PyValues.Str(v).Trim();
            case "length" or "count":
                return v switch
                {
                    string s => (long)s.EnumerateRunes().Count(),
                    List<object?> l => (long)l.Count,
                    Dictionary<string, object?> d => (long)d.Count,
                    Undefined => 0L,
                    _ => throw new JinjaException($"line {line}: object of type '{PyValues.TypeName(v)}' has no len()."),
                };
            case "lower": return PyValues.Str(v).ToLowerInvariant();
            case "upper": return PyValues.Str(v).ToUpperInvariant();
            case "capitalize": return StringMethod(PyValues.Str(v), "capitalize", line)!([], []);
            case "title": return Title(PyValues.Str(v));
            case "default" or "d":
                bool boolean = PyValues.Truthy(Arg(1, "boolean", false));
                return v is Undefined || (boolean && !PyValues.Truthy(v)) ? Arg(0, "default_value", "") : v;
            case "join":
                string sep = PyValues.Str(Arg(0, "d", ""));
                object? attr = Arg(1, "attribute", null);
                return string.Join(sep, Iterate(v, line).Select(x => PyValues.Str(attr is null ? x : GetItem(x, attr, line))));
            case "first": { var l = Iterate(v, line); return l.Count > 0 ? l[0] : Undefined.Instance; }
            case "last": { var l = Iterate(v, line); return l.Count > 0 ? l[^1] : Undefined.Instance; }
            case "list": return Iterate(v, line).ToList();
            case "reverse": return v is string rs ? new string(rs.Reverse().ToArray()) : Enumerable.Reverse(Iterate(v, line)).ToList();
            case "string": return PyValues.Str(v);
            case "int":
                return v switch
                {
                    long l => l,
                    double d => (long)Math.Truncate(d),
                    bool b => b ? 1L : 0L,
                    string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long p) => p,
                    _ => Arg(0, "default", 0L),
                };
            case "float":
                return v switch
                {
                    long or double or bool => PyValues.ToDouble(v),
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double p) => p,
                    _ => Arg(0, "default", 0.0),
                };
            case "abs": return v is long al ? (object)Math.Abs(al) : Math.Abs(PyValues.ToDouble(v));
            case "replace": return PyValues.Str(v).Replace(PyValues.Str(args[0]), PyValues.Str(args[1]), StringComparison.Ordinal);
            case "items":
                return v is Dictionary<string, object?> d2 ? DictMethod(d2, "items")!([], []) : Undefined.Instance;
            case "safe": return v;
            case "e" or "escape": return WebUtility.HtmlEncode(PyValues.Str(v));
            case "map":
                if (!kwargs.TryGetValue("attribute", out var mapAttr))
                    return Iterate(v, line).Select(x => Filter(PyValues.Str(args[0]), x, args.Skip(1).ToList(), [], line)).ToList();
                return Iterate(v, line).Select(x => GetItem(x, mapAttr, line)).ToList();
            case "selectattr" or "rejectattr":
            {
                bool keep = name == "selectattr";
                string testName = args.Count > 1 ? PyValues.Str(args[1]) : "truthy";
                return Iterate(v, line).Where(x =>
                {
                    object? value = GetItem(x, args[0], line);
                    bool passed = testName == "truthy" ? PyValues.Truthy(value) : Test(testName, value, args.Skip(2).ToList(), line);
                    return passed == keep;
                }).ToList();
            }
            default:
                throw new JinjaException($"line {line}: filter '{name}' is not supported by SharpSeek's Jinja subset.");
        }
    }

    public static bool Test(string name, object? v, List<object?> args, int line) => name switch
    {
        "defined" => v is not Undefined,
        "undefined" => v is Undefined,
        "none" => v is null,
        "string" => v is string,
        "number" => v is long or double,
        "integer" => v is long,
        "float" => v is double,
        "boolean" => v is bool,
        "true" => v is true,
        "false" => v is false,
        "mapping" => v is Dictionary<string, object?> or Namespace,
        "sequence" or "iterable" => v is string or List<object?> or Dictionary<string, object?>,
        "callable" => v is JinjaCallable,
        "odd" => (long)PyValues.ToDouble(v) % 2 != 0,
        "even" => (long)PyValues.ToDouble(v) % 2 == 0,
        "divisibleby" => (long)PyValues.ToDouble(v) % (long)PyValues.ToDouble(args[0]) == 0,
        "eq" or "equalto" or "==" or "sameas" => PyValues.PyEquals(v, args[0]),
        "ne" or "!=" => !PyValues.PyEquals(v, args[0]),
        "in" => Contains(args[0], v, line),
        "lower" => v is string ls && ls == ls.ToLowerInvariant(),
        "upper" => v is string us && us == us.ToUpperInvariant(),
        _ => throw new JinjaException($"line {line}: test '{name}' is not supported by SharpSeek's Jinja subset."),
    };
}
