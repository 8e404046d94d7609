namespace SharpSeek.Tokenizers.Jinja;

// Expressions.
internal abstract record Expr(int Line);
internal sealed record Literal(object? Value, int Line) : Expr(Line);
internal sealed record NameRef(string Name, int Line) : Expr(Line);
internal sealed record GetAttr(Expr Target, string Name, int Line) : Expr(Line);
internal sealed record GetItem(Expr Target, Expr Key, int Line) : Expr(Line);
internal sealed record SliceExpr(Expr Target, Expr? Start, Expr? Stop, Expr? Step, int Line) : Expr(Line);
internal sealed record Call(Expr Callee, List<Expr> Args, List<(string Name, Expr Value)> Kwargs, int Line) : Expr(Line);
internal sealed record FilterExpr(Expr Value, string Name, List<Expr> Args, List<(string Name, Expr Value)> Kwargs, int Line) : Expr(Line);
internal sealed record TestExpr(Expr Value, string Name, List<Expr> Args, int Line) : Expr(Line);
internal sealed record Unary(string Op, Expr Operand, int Line) : Expr(Line);
internal sealed record Binary(string Op, Expr Left, Expr Right, int Line) : Expr(Line);
internal sealed record Conditional(Expr Test, Expr Then, Expr? Else, int Line) : Expr(Line);
internal sealed record ListLit(List<Expr> Items, int Line) : Expr(Line);
internal sealed record DictLit(List<(Expr Key, Expr Value)> Items, int Line) : Expr(Line);

// Statements.
internal abstract record Stmt(int Line);
internal sealed record TextStmt(string Text, int Line) : Stmt(Line);
internal sealed record OutputStmt(Expr Value, int Line) : Stmt(Line);
internal sealed record IfStmt(List<(Expr Test, List<Stmt> Body)> Branches, List<Stmt>? Else, int Line) : Stmt(Line);
internal sealed record ForStmt(List<string> Targets, Expr Iter, Expr? Filter, List<Stmt> Body, List<Stmt>? Else, int Line) : Stmt(Line);
internal sealed record SetStmt(string Name, string? Attr, Expr Value, int Line) : Stmt(Line);
internal sealed record LoopControl(bool IsBreak, int Line) : Stmt(Line);
