using System.Text;

namespace SharpSeek.Tokenizers.Jinja;

/// <summary>
/// A parsed Jinja2 template, rendered as transformers renders chat templates (Jinja2 with trim_blocks,
/// lstrip_blocks, loop controls, <c>raise_exception</c>, <c>namespace</c>, <c>tojson</c>). The supported subset:
/// text, <c>{{ expr }}</c>, if/elif/else, for (tuple targets, loop filter, else, <c>loop.*</c>), set (names and
/// namespace attributes), break/continue, comments, whitespace control; Python-like values, operators, string
/// and dict methods, the common filters and tests. Anything else fails loudly at parse or render time.
/// </summary>
public sealed class JinjaTemplate
{
    private readonly List<Stmt> _body;

    public JinjaTemplate(string source) => _body = JinjaParser.Parse(source);

    /// <summary>Renders with the given top-level variables (converted with <see cref="PyValues.From"/>).</summary>
    public string Render(IReadOnlyDictionary<string, object?> variables)
    {
        var globals = new Dictionary<string, object?>
        {
            ["namespace"] = (JinjaCallable)((args, kwargs) => new Namespace(new Dictionary<string, object?>(kwargs))),
            ["raise_exception"] = (JinjaCallable)((args, _) =>
                throw new JinjaException(args.Count > 0 ? PyValues.Str(args[0]) : "raise_exception called")),
            ["range"] = (JinjaCallable)((args, _) => JinjaBuiltins.Range(args)),
        };
        foreach (var (k, v) in variables) globals[k] = PyValues.From(v);
        var scopes = new List<Dictionary<string, object?>> { globals };
        var output = new StringBuilder();
        new Renderer(scopes, output).Run(_body);
        return output.ToString();
    }

    private sealed class LoopSignal(bool isBreak) : Exception
    {
        public bool IsBreak { get; } = isBreak;
    }

    private sealed class Renderer(List<Dictionary<string, object?>> scopes, StringBuilder output)
    {
        public void Run(List<Stmt> body)
        {
            foreach (Stmt s in body) Execute(s);
        }

        private void Execute(Stmt s)
        {
            switch (s)
            {
                case TextStmt t: output.Append(t.Text); break;
                case OutputStmt o: output.Append(PyValues.Str(Eval(o.Value))); break;
                case IfStmt i:
                    foreach (var (test, body) in i.Branches)
                        if (PyValues.Truthy(Eval(test))) { Run(body); return; }
                    if (i.Else is not null) Run(i.Else);
                    break;
                case ForStmt f: ExecuteFor(f); break;
                case SetStmt set:
                    object? value = Eval(set.Value);
                    if (set.Attr is null) { scopes[^1][set.Name] = value; break; }
                    if (Lookup(set.Name, set.Line) is not Namespace ns)
                        throw new JinjaException($"line {set.Line}: cannot assign attribute on non-namespace object '{set.Name}'.");
                    ns.Values[set.Attr] = value;
                    break;
                case LoopControl lc: throw new LoopSignal(lc.IsBreak);
            }
        }

        private void ExecuteFor(ForStmt f)
        {
            List<object?> items = JinjaBuiltins.Iterate(Eval(f.Iter), f.Line);
            if (f.Filter is not null)
                items = items.Where(item => { using var _ = PushScope(Bind(f, item)); return PyValues.Truthy(Eval(f.Filter)); }).ToList();
            if (items.Count == 0) { if (f.Else is not null) Run(f.Else); return; }
            for (int i = 0; i < items.Count; i++)
            {
                var scope = Bind(f, items[i]);
                scope["loop"] = new Dictionary<string, object?>
                {
                    ["index"] = (long)i + 1, ["index0"] = (long)i, ["revindex"] = (long)(items.Count - i),
                    ["revindex0"] = (long)(items.Count - i - 1), ["first"] = i == 0, ["last"] = i == items.Count - 1,
                    ["length"] = (long)items.Count, ["previtem"] = i > 0 ? items[i - 1] : Undefined.Instance,
                    ["nextitem"] = i + 1 < items.Count ? items[i + 1] : Undefined.Instance,
                    ["cycle"] = (JinjaCallable)((args, _) => args.Count == 0 ? Undefined.Instance : args[i % args.Count]),
                };
                using var popper = PushScope(scope);
                try { Run(f.Body); }
                catch (LoopSignal signal) { if (signal.IsBreak) break; }
            }
        }

        private static Dictionary<string, object?> Bind(ForStmt f, object? item)
        {
            var scope = new Dictionary<string, object?>();
            if (f.Targets.Count == 1) { scope[f.Targets[0]] = item; return scope; }
            var parts = JinjaBuiltins.Iterate(item, f.Line);
            if (parts.Count != f.Targets.Count)
                throw new JinjaException($"line {f.Line}: cannot unpack {parts.Count} values into {f.Targets.Count} loop variables.");
            for (int i = 0; i < parts.Count; i++) scope[f.Targets[i]] = parts[i];
            return scope;
        }

        private ScopePopper PushScope(Dictionary<string, object?> scope)
        {
            scopes.Add(scope);
            return new ScopePopper(scopes);
        }

        private readonly struct ScopePopper(List<Dictionary<string, object?>> scopes) : IDisposable
        {
            public void Dispose() => scopes.RemoveAt(scopes.Count - 1);
        }

        private object? Lookup(string name, int line)
        {
            for (int i = scopes.Count - 1; i >= 0; i--)
                if (scopes[i].TryGetValue(name, out object? v)) return v;
            return Undefined.Instance;
        }

        public object? Eval(Expr e)
        {
            switch (e)
            {
                case Literal l: return l.Value;
                case NameRef n: return Lookup(n.Name, n.Line);
                case GetAttr g: return JinjaBuiltins.GetAttr(Eval(g.Target), g.Name, g.Line);
                case GetItem g: return JinjaBuiltins.GetItem(Eval(g.Target), Eval(g.Key), g.Line);
                case SliceExpr s:
                    return JinjaBuiltins.Slice(Eval(s.Target), s.Start is null ? null : Eval(s.Start),
                        s.Stop is null ? null : Eval(s.Stop), s.Step is null ? null : Eval(s.Step), s.Line);
                case Call c:
                {
                    object? callee = Eval(c.Callee);
                    if (callee is not JinjaCallable fn)
                        throw new JinjaException($"line {c.Line}: {PyValues.TypeName(callee)} object is not callable.");
                    return fn(c.Args.Select(Eval).ToList(), c.Kwargs.ToDictionary(k => k.Name, k => Eval(k.Value)));
                }
                case FilterExpr f:
                    return JinjaBuiltins.Filter(f.Name, Eval(f.Value), f.Args.Select(Eval).ToList(),
                        f.Kwargs.ToDictionary(k => k.Name, k => Eval(k.Value)), f.Line);
                case TestExpr t: return JinjaBuiltins.Test(t.Name, Eval(t.Value), t.Args.Select(Eval).ToList(), t.Line);
                case Unary u:
                {
                    object? v = Eval(u.Operand);
                    return u.Op switch
                    {
                        "not" => !PyValues.Truthy(v),
                        "-" => v is long l ? (object)(-l) : -PyValues.ToDouble(v),
                        _ => v,
                    };
                }
                case Binary b when b.Op == "and":
                {
                    object? left = Eval(b.Left);
                    return PyValues.Truthy(left) ? Eval(b.Right) : left;
                }
                case Binary b when b.Op == "or":
                {
                    object? left = Eval(b.Left);
                    return PyValues.Truthy(left) ? left : Eval(b.Right);
                }
                case Binary b: return JinjaBuiltins.BinaryOp(b.Op, Eval(b.Left), Eval(b.Right), b.Line);
                case Conditional c:
                    return PyValues.Truthy(Eval(c.Test)) ? Eval(c.Then) : c.Else is null ? Undefined.Instance : Eval(c.Else);
                case ListLit l: return l.Items.Select(Eval).ToList();
                case DictLit d:
                {
                    var dict = new Dictionary<string, object?>();
                    foreach (var (k, v) in d.Items) dict[PyValues.Str(Eval(k))] = Eval(v);
                    return dict;
                }
                default: throw new JinjaException($"line {e.Line}: cannot evaluate {e.GetType().Name}.");
            }
        }
    }
}
