using System.Globalization;

namespace SharpSeek.Tokenizers.Jinja;

/// <summary>Recursive-descent parser for the Jinja2 subset chat templates use, with Jinja2's precedence:
/// conditional &lt; or &lt; and &lt; not &lt; comparisons/in &lt; + - &lt; ~ &lt; * / // % &lt; ** &lt; unary &lt;
/// primary with postfix (.attr, [key], [a:b], call), filters (|f) and tests (is t).</summary>
internal sealed class JinjaParser
{
    private readonly List<Token> _t;
    private int _p;

    private JinjaParser(List<Token> tokens) => _t = tokens;

    public static List<Stmt> Parse(string source)
    {
        var parser = new JinjaParser(JinjaLexer.Tokenize(source));
        var body = parser.ParseBody(out string? end);
        if (end is not null) throw parser.Error($"unexpected '{{% {end} %}}'");
        return body;
    }

    private Token Peek => _t[_p];
    private Token Next() => _t[_p++];
    private JinjaException Error(string message) => new($"line {Peek.Line}: {message} (at {Peek}).");

    private Token Expect(Tok kind, string? value = null)
    {
        Token t = Peek;
        if (t.Kind != kind || (value is not null && t.Value != value))
            throw Error($"expected {(value is null ? kind.ToString() : $"'{value}'")}");
        _p++;
        return t;
    }

    private bool Accept(Tok kind, string value)
    {
        if (!Peek.Is(kind, value)) return false;
        _p++;
        return true;
    }

    private static readonly HashSet<string> EndKeywords = ["endif", "elif", "else", "endfor"];

    /// <summary>Parses statements until end of input or a block tag whose keyword ends a body (returned in
    /// <paramref name="end"/>, the tag's opening consumed and its keyword consumed).</summary>
    private List<Stmt> ParseBody(out string? end)
    {
        var body = new List<Stmt>();
        while (true)
        {
            Token t = Next();
            switch (t.Kind)
            {
                case Tok.End: end = null; _p--; return body;
                case Tok.Text: body.Add(new TextStmt(t.Value, t.Line)); break;
                case Tok.VarOpen:
                    body.Add(new OutputStmt(ParseExpr(), t.Line));
                    Expect(Tok.VarClose);
                    break;
                case Tok.BlockOpen:
                    Token kw = Expect(Tok.Name);
                    if (EndKeywords.Contains(kw.Value)) { end = kw.Value; return body; }
                    body.Add(ParseStatement(kw));
                    break;
                default: throw new JinjaException($"line {t.Line}: unexpected {t}.");
            }
        }
    }

    private Stmt ParseStatement(Token kw)
    {
        switch (kw.Value)
        {
            case "if": return ParseIf(kw.Line);
            case "for": return ParseFor(kw.Line);
            case "set":
            {
                string name = Expect(Tok.Name).Value;
                string? attr = Accept(Tok.Op, ".") ? Expect(Tok.Name).Value : null;
                if (Peek.Kind == Tok.BlockClose)
                    throw Error("block assignments ({% set x %}…{% endset %}) are not supported");
                Expect(Tok.Op, "=");
                Expr value = ParseTupleOrExpr();
                Expect(Tok.BlockClose);
                return new SetStmt(name, attr, value, kw.Line);
            }
            case "break" or "continue":
                Expect(Tok.BlockClose);
                return new LoopControl(kw.Value == "break", kw.Line);
            default:
                throw new JinjaException($"line {kw.Line}: '{{% {kw.Value} %}}' is not supported by SharpSeek's Jinja subset " +
                    "(supported: if/elif/else, for/else with loop.*, set incl. namespace attributes, break/continue).");
        }
    }

    private Stmt ParseIf(int line)
    {
        var branches = new List<(Expr, List<Stmt>)>();
        Expr test = ParseExpr();
        Expect(Tok.BlockClose);
        while (true)
        {
            var body = ParseBody(out string? end);
            branches.Add((test, body));
            if (end == "elif") { test = ParseExpr(); Expect(Tok.BlockClose); continue; }
            if (end == "else")
            {
                Expect(Tok.BlockClose);
                var elseBody = ParseBody(out string? end2);
                if (end2 != "endif") throw Error("expected {% endif %}");
                Expect(Tok.BlockClose);
                return new IfStmt(branches, elseBody, line);
            }
            if (end != "endif") throw Error("expected {% endif %}");
            Expect(Tok.BlockClose);
            return new IfStmt(branches, null, line);
        }
    }

    private Stmt ParseFor(int line)
    {
        var targets = new List<string> { Expect(Tok.Name).Value };
        while (Accept(Tok.Op, ",")) targets.Add(Expect(Tok.Name).Value);
        Expect(Tok.Name, "in");
        Expr iter = ParseOr(); // no conditional here: "if" starts the loop filter
        Expr? filter = Accept(Tok.Name, "if") ? ParseOr() : null;
        if (Accept(Tok.Name, "recursive")) throw Error("recursive loops are not supported");
        Expect(Tok.BlockClose);
        var body = ParseBody(out string? end);
        List<Stmt>? elseBody = null;
        if (end == "else")
        {
            Expect(Tok.BlockClose);
            elseBody = ParseBody(out end);
        }
        if (end != "endfor") throw Error("expected {% endfor %}");
        Expect(Tok.BlockClose);
        return new ForStmt(targets, iter, filter, body, elseBody, line);
    }

    private Expr ParseTupleOrExpr()
    {
        Expr first = ParseExpr();
        if (!Peek.Is(Tok.Op, ",")) return first;
        var items = new List<Expr> { first };
        while (Accept(Tok.Op, ",")) items.Add(ParseExpr());
        return new ListLit(items, first.Line);
    }

    public Expr ParseExpr()
    {
        Expr e = ParseOr();
        if (!Accept(Tok.Name, "if")) return e;
        Expr test = ParseOr();
        Expr? otherwise = Accept(Tok.Name, "else") ? ParseExpr() : null;
        return new Conditional(test, e, otherwise, e.Line);
    }

    private Expr ParseOr()
    {
        Expr e = ParseAnd();
        while (Accept(Tok.Name, "or")) e = new Binary("or", e, ParseAnd(), e.Line);
        return e;
    }

    private Expr ParseAnd()
    {
        Expr e = ParseNot();
        while (Accept(Tok.Name, "and")) e = new Binary("and", e, ParseNot(), e.Line);
        return e;
    }

    private Expr ParseNot()
    {
        int line = Peek.Line;
        return Accept(Tok.Name, "not") ? new Unary("not", ParseNot(), line) : ParseCompare();
    }

    private Expr ParseCompare()
    {
        Expr e = ParseMath1();
        while (true)
        {
            if (Peek.Kind == Tok.Op && Peek.Value is "==" or "!=" or "<" or ">" or "<=" or ">=")
                e = new Binary(Next().Value, e, ParseMath1(), e.Line);
            else if (Accept(Tok.Name, "in")) e = new Binary("in", e, ParseMath1(), e.Line);
            else if (Peek.Is(Tok.Name, "not") && _t[_p + 1].Is(Tok.Name, "in"))
            {
                _p += 2;
                e = new Unary("not", new Binary("in", e, ParseMath1(), e.Line), e.Line);
            }
            else return e;
        }
    }

    private Expr ParseMath1()
    {
        Expr e = ParseConcat();
        while (Peek.Kind == Tok.Op && Peek.Value is "+" or "-") e = new Binary(Next().Value, e, ParseConcat(), e.Line);
        return e;
    }

    private Expr ParseConcat()
    {
        Expr e = ParseMath2();
        while (Accept(Tok.Op, "~")) e = new Binary("~", e, ParseMath2(), e.Line);
        return e;
    }

    private Expr ParseMath2()
    {
        Expr e = ParsePow();
        while (Peek.Kind == Tok.Op && Peek.Value is "*" or "/" or "//" or "%") e = new Binary(Next().Value, e, ParsePow(), e.Line);
        return e;
    }

    private Expr ParsePow()
    {
        Expr e = ParseUnary(withFilter: true);
        while (Accept(Tok.Op, "**")) e = new Binary("**", e, ParseUnary(withFilter: true), e.Line);
        return e;
    }

    private Expr ParseUnary(bool withFilter)
    {
        int line = Peek.Line;
        Expr e;
        if (Accept(Tok.Op, "-")) e = new Unary("-", ParseUnary(false), line);
        else if (Accept(Tok.Op, "+")) e = new Unary("+", ParseUnary(false), line);
        else e = ParsePostfix(ParsePrimary());
        return withFilter ? ParseFilters(e) : e;
    }

    private Expr ParsePrimary()
    {
        Token t = Next();
        switch (t.Kind)
        {
            case Tok.String:
            {
                string s = t.Value;
                while (Peek.Kind == Tok.String) s += Next().Value; // adjacent literals concatenate
                return new Literal(s, t.Line);
            }
            case Tok.Integer: return new Literal(long.Parse(t.Value, CultureInfo.InvariantCulture), t.Line);
            case Tok.Float: return new Literal(double.Parse(t.Value, CultureInfo.InvariantCulture), t.Line);
            case Tok.Name:
                return t.Value switch
                {
                    "true" or "True" => new Literal(true, t.Line),
                    "false" or "False" => new Literal(false, t.Line),
                    "none" or "None" => new Literal(null, t.Line),
                    _ => new NameRef(t.Value, t.Line),
                };
            case Tok.Op when t.Value == "(":
            {
                if (Accept(Tok.Op, ")")) return new ListLit([], t.Line);
                Expr e = ParseTupleOrExpr();
                Expect(Tok.Op, ")");
                return e;
            }
            case Tok.Op when t.Value == "[":
            {
                var items = new List<Expr>();
                while (!Peek.Is(Tok.Op, "]"))
                {
                    items.Add(ParseExpr());
                    if (!Accept(Tok.Op, ",")) break;
                }
                Expect(Tok.Op, "]");
                return new ListLit(items, t.Line);
            }
            case Tok.Op when t.Value == "{":
            {
                var items = new List<(Expr, Expr)>();
                while (!Peek.Is(Tok.Op, "}"))
                {
                    Expr k = ParseExpr();
                    Expect(Tok.Op, ":");
                    items.Add((k, ParseExpr()));
                    if (!Accept(Tok.Op, ",")) break;
                }
                Expect(Tok.Op, "}");
                return new DictLit(items, t.Line);
            }
            default:
                _p--;
                throw Error("expected an expression");
        }
    }

    private Expr ParsePostfix(Expr e)
    {
        while (true)
        {
            if (Accept(Tok.Op, ".")) e = new GetAttr(e, Peek.Kind == Tok.Integer ? Next().Value : Expect(Tok.Name).Value, e.Line);
            else if (Accept(Tok.Op, "[")) e = ParseSubscript(e);
            else if (Peek.Is(Tok.Op, "(")) e = ParseCall(e);
            else return e;
        }
    }

    private Expr ParseSubscript(Expr target)
    {
        Expr? start = null, stop = null, step = null;
        if (!Peek.Is(Tok.Op, ":")) start = ParseExpr();
        if (Accept(Tok.Op, ":"))
        {
            if (!Peek.Is(Tok.Op, "]") && !Peek.Is(Tok.Op, ":")) stop = ParseExpr();
            if (Accept(Tok.Op, ":") && !Peek.Is(Tok.Op, "]")) step = ParseExpr();
            Expect(Tok.Op, "]");
            return new SliceExpr(target, start, stop, step, target.Line);
        }
        Expect(Tok.Op, "]");
        return new GetItem(target, start!, target.Line);
    }

    private (List<Expr>, List<(string, Expr)>) ParseArgs()
    {
        Expect(Tok.Op, "(");
        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        while (!Peek.Is(Tok.Op, ")"))
        {
            if (Peek.Kind == Tok.Name && _t[_p + 1].Is(Tok.Op, "="))
            {
                string name = Next().Value;
                _p++;
                kwargs.Add((name, ParseExpr()));
            }
            else args.Add(ParseExpr());
            if (!Accept(Tok.Op, ",")) break;
        }
        Expect(Tok.Op, ")");
        return (args, kwargs);
    }

    private Expr ParseCall(Expr callee)
    {
        var (args, kwargs) = ParseArgs();
        return new Call(callee, args, kwargs, callee.Line);
    }

    private Expr ParseFilters(Expr e)
    {
        while (true)
        {
            if (Accept(Tok.Op, "|"))
            {
                string name = Expect(Tok.Name).Value;
                var (args, kwargs) = Peek.Is(Tok.Op, "(") ? ParseArgs() : ([], []);
                e = new FilterExpr(e, name, args, kwargs, e.Line);
            }
            else if (Accept(Tok.Name, "is"))
            {
                bool negated = Accept(Tok.Name, "not");
                string name = Expect(Tok.Name).Value;
                var args = new List<Expr>();
                if (Peek.Is(Tok.Op, "(")) args = ParseArgs().Item1;
                else if (Peek.Kind is Tok.String or Tok.Integer or Tok.Float || (Peek.Kind == Tok.Name && Peek.Value is not ("and" or "or" or "else" or "if" or "in" or "is" or "not")))
                    args.Add(ParsePostfix(ParsePrimary()));
                Expr test = new TestExpr(e, name, args, e.Line);
                e = negated ? new Unary("not", test, e.Line) : test;
            }
            else if (Peek.Is(Tok.Op, "(")) e = ParseCall(e);
            else return e;
        }
    }
}
