using System.Globalization;
using System.Text;

namespace SharpSeek.Tokenizers.Jinja;

/// <summary>Raised for template syntax errors, unsupported constructs and render-time type errors.</summary>
public sealed class JinjaException(string message) : FormatException(message);

internal enum Tok { Text, VarOpen, VarClose, BlockOpen, BlockClose, Name, String, Integer, Float, Op, End }

internal readonly record struct Token(Tok Kind, string Value, int Line)
{
    public bool Is(Tok kind, string value) => Kind == kind && Value == value;
    public override string ToString() => Kind == Tok.End ? "end of template" : $"'{Value}'";
}

/// <summary>
/// Splits a template into text and tag tokens with Jinja2's whitespace rules as transformers configures them
/// (<c>trim_blocks=True, lstrip_blocks=True</c>): a block or comment tag removes the first newline after it and the
/// spaces/tabs before it on its line; <c>{%-</c>/<c>-%}</c> (and <c>{{-</c>, <c>-}}</c>) strip all whitespace on that
/// side; <c>{%+</c>/<c>+%}</c> turn the lstrip/trim off for that tag. Comments vanish.
/// </summary>
internal static class JinjaLexer
{
    private static readonly string[] Ops =
        ["==", "!=", "<=", ">=", "//", "**", "+", "-", "*", "/", "%", "~", "<", ">", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", "="];

    public static List<Token> Tokenize(string src)
    {
        var tokens = new List<Token>();
        int pos = 0, line = 1;
        bool trimNextNewline = false, stripNextWhitespace = false;
        while (pos < src.Length)
        {
            int open = FindTagOpen(src, pos);
            if (open < 0) { AddText(tokens, LeadingTrim(src[pos..], trimNextNewline, stripNextWhitespace), line); break; }
            char kind = src[open + 1];
            char modifier = open + 2 < src.Length ? src[open + 2] : '\0';
            int textEnd = open;
            if (modifier != '-' && modifier != '+' && kind is '%' or '#')
            {
                // lstrip_blocks: spaces/tabs between the start of a line and a block tag go.
                int p = open;
                while (p > pos && src[p - 1] is ' ' or '\t') p--;
                if (p == 0 || src[p - 1] == '\n') textEnd = p;
            }
            string text = LeadingTrim(src[pos..textEnd], trimNextNewline, stripNextWhitespace);
            if (modifier == '-') text = text.TrimEnd();
            trimNextNewline = stripNextWhitespace = false;
            AddText(tokens, text, line);
            line += Count(src, pos, open, '\n');
            int start = open + 2 + (modifier is '-' or '+' ? 1 : 0);
            if (kind == '#')
            {
                int close = src.IndexOf("#}", start, StringComparison.Ordinal);
                if (close < 0) throw new JinjaException($"line {line}: unterminated comment.");
                stripNextWhitespace = src[close - 1] == '-';
                trimNextNewline = src[close - 1] != '+';
                line += Count(src, open, close, '\n');
                pos = close + 2;
                continue;
            }
            tokens.Add(new Token(kind == '{' ? Tok.VarOpen : Tok.BlockOpen, kind == '{' ? "{{" : "{%", line));
            pos = LexTag(src, start, kind == '{' ? '}' : '%', tokens, ref line, out bool stripAfter, out bool plus);
            stripNextWhitespace = stripAfter;
            trimNextNewline = kind == '%' && !plus;
        }
        tokens.Add(new Token(Tok.End, "", line));
        return tokens;
    }

    private static int FindTagOpen(string src, int from)
    {
        for (int i = src.IndexOf('{', from); i >= 0 && i + 1 < src.Length; i = src.IndexOf('{', i + 1))
            if (src[i + 1] is '{' or '%' or '#') return i;
        return -1;
    }

    // After "-%}" all leading whitespace goes; after a block tag (trim_blocks) one newline.
    private static string LeadingTrim(string text, bool trimNewline, bool stripWhitespace)
    {
        if (stripWhitespace) return text.TrimStart();
        if (trimNewline && text.StartsWith('\n')) return text[1..];
        if (trimNewline && text.StartsWith("\r\n", StringComparison.Ordinal)) return text[2..];
        return text;
    }

    private static void AddText(List<Token> tokens, string text, int line)
    {
        if (text.Length > 0) tokens.Add(new Token(Tok.Text, text, line));
    }

    private static int Count(string s, int from, int to, char c)
    {
        int n = 0;
        for (int i = from; i < to && i < s.Length; i++) if (s[i] == c) n++;
        return n;
    }

    /// <summary>Lexes expression tokens until the tag's closer; returns the position after it.</summary>
    private static int LexTag(string src, int pos, char closer, List<Token> tokens, ref int line, out bool stripAfter, out bool plus)
    {
        while (true)
        {
            while (pos < src.Length && char.IsWhiteSpace(src[pos])) { if (src[pos] == '\n') line++; pos++; }
            if (pos >= src.Length) throw new JinjaException($"line {line}: unterminated tag.");
            char c = src[pos];
            // Closers: "}}" / "%}", optionally preceded by '-' or '+'.
            if ((c is '-' or '+') && Closes(src, pos + 1, closer))
            {
                stripAfter = c == '-'; plus = c == '+';
                tokens.Add(new Token(closer == '}' ? Tok.VarClose : Tok.BlockClose, "", line));
                return pos + 3;
            }
            if (Closes(src, pos, closer))
            {
                stripAfter = plus = false;
                tokens.Add(new Token(closer == '}' ? Tok.VarClose : Tok.BlockClose, "", line));
                return pos + 2;
            }
            if (char.IsLetter(c) || c == '_')
            {
                int s = pos;
                while (pos < src.Length && (char.IsLetterOrDigit(src[pos]) || src[pos] == '_')) pos++;
                tokens.Add(new Token(Tok.Name, src[s..pos], line));
            }
            else if (char.IsAsciiDigit(c))
            {
                int s = pos;
                while (pos < src.Length && (char.IsAsciiDigit(src[pos]) || src[pos] == '_')) pos++;
                bool isFloat = pos + 1 < src.Length && src[pos] == '.' && char.IsAsciiDigit(src[pos + 1]);
                if (isFloat) { pos++; while (pos < src.Length && char.IsAsciiDigit(src[pos])) pos++; }
                tokens.Add(new Token(isFloat ? Tok.Float : Tok.Integer, src[s..pos].Replace("_", ""), line));
            }
            else if (c is '\'' or '"') pos = LexString(src, pos, tokens, ref line);
            else
            {
                string? op = Ops.FirstOrDefault(o => string.CompareOrdinal(src, pos, o, 0, o.Length) == 0);
                if (op is null) throw new JinjaException($"line {line}: unexpected character '{c}' in tag.");
                tokens.Add(new Token(Tok.Op, op, line));
                pos += op.Length;
            }
        }
    }

    private static bool Closes(string src, int pos, char closer) =>
        pos + 1 < src.Length && src[pos] == closer && src[pos + 1] == '}';

    // Python string literal escapes, as Jinja2 decodes them.
    private static int LexString(string src, int pos, List<Token> tokens, ref int line)
    {
        char quote = src[pos++];
        var sb = new StringBuilder();
        while (true)
        {
            if (pos >= src.Length) throw new JinjaException($"line {line}: unterminated string literal.");
            char c = src[pos++];
            if (c == quote) break;
            if (c == '\n') line++;
            if (c != '\\' || pos >= src.Length) { sb.Append(c); continue; }
            char e = src[pos++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '0': sb.Append('\0'); break;
                case '\\': case '\'': case '"': sb.Append(e); break;
                case 'u' when pos + 4 <= src.Length:
                    sb.Append((char)int.Parse(src.AsSpan(pos, 4), NumberStyles.HexNumber)); pos += 4; break;
                case 'x' when pos + 2 <= src.Length:
                    sb.Append((char)int.Parse(src.AsSpan(pos, 2), NumberStyles.HexNumber)); pos += 2; break;
                default: sb.Append('\\').Append(e); break;
            }
        }
        tokens.Add(new Token(Tok.String, sb.ToString(), line));
        return pos;
    }
}
