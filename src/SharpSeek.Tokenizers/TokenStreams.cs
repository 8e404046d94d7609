using System.Text;
using System.Text.Json;

namespace SharpSeek.Tokenizers;

/// <summary>
/// Line-oriented encode/decode used by <c>sharpseek tokenize</c>. Defined behaviour at the boundary:
/// <list type="bullet">
/// <item>A line ends at '\n'; one '\r' right before it is dropped too ("\r\n" files). Other '\r' are text.
///   A last line without '\n' is still a line; an empty input gives no lines.</item>
/// <item>Input bytes are UTF-8. Invalid sequences become U+FFFD, one per maximal invalid subsequence (the .NET
///   and Unicode "best practice" decoding, the same as Rust's from_utf8_lossy), and are encoded as U+FFFD.</item>
/// <item>Lines may be of any length (a 1 MB line is one line; BPE is O(n log n) per pre-token).</item>
/// <item>An empty line encodes to <c>[]</c>; <c>[]</c> (or an empty line) decodes to an empty line.</item>
/// <item>Decoding an id outside the vocabulary, or a line that is not a JSON array of integers, stops with
///   <see cref="InvalidDataException"/> naming the line and the id; nothing is guessed.</item>
/// </list>
/// </summary>
public static class TokenStreams
{
    private static readonly UTF8Encoding Utf8Lenient = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    /// <summary>Reads UTF-8 lines from <paramref name="input"/>, writes one JSON array of ids per line. Returns lines.</summary>
    public static long EncodeLines(Tokenizer tokenizer, Stream input, TextWriter output, bool addSpecialTokens)
    {
        var ids = new List<int>();
        var sb = new StringBuilder();
        long count = 0;
        foreach (string line in ReadLines(input))
        {
            ids.Clear();
            tokenizer.Encode(line, ids, addSpecialTokens);
            sb.Clear().Append('[');
            for (int i = 0; i < ids.Count; i++) { if (i > 0) sb.Append(','); sb.Append(ids[i]); }
            output.Write(sb.Append(']').Append('\n'));
            count++;
        }
        return count;
    }

    /// <summary>Reads one JSON array of ids per line, writes the decoded text of each followed by '\n'.</summary>
    public static long DecodeLines(Tokenizer tokenizer, Stream input, TextWriter output, bool skipSpecialTokens = false)
    {
        long lineNo = 0;
        foreach (string line in ReadLines(input))
        {
            lineNo++;
            int[] ids = ParseIds(line, lineNo);
            try { output.Write(tokenizer.Decode(ids, skipSpecialTokens)); }
            catch (UnknownTokenIdException e) { throw new InvalidDataException($"line {lineNo}: {e.Message}", e); }
            output.Write('\n');
        }
        return lineNo;
    }

    public static int[] ParseIds(string line, long lineNo)
    {
        if (string.IsNullOrWhiteSpace(line)) return [];
        try
        {
            return JsonSerializer.Deserialize<int[]>(line)
                ?? throw new InvalidDataException($"line {lineNo}: expected a JSON array of token ids, got null.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"line {lineNo}: expected a JSON array of token ids like [1, 2, 3]: {e.Message}", e);
        }
    }

    /// <summary>Splits a UTF-8 byte stream into lines (see the class comment), decoding leniently.</summary>
    public static IEnumerable<string> ReadLines(Stream input)
    {
        var buffer = new byte[1 << 16];
        var line = new MemoryStream();
        int read;
        while ((read = input.Read(buffer, 0, buffer.Length)) > 0)
        {
            int start = 0;
            while (start < read)
            {
                int nl = Array.IndexOf(buffer, (byte)'\n', start, read - start);
                if (nl < 0) { line.Write(buffer, start, read - start); break; }
                line.Write(buffer, start, nl - start);
                yield return TakeLine(line);
                start = nl + 1;
            }
        }
        if (line.Length > 0) yield return TakeLine(line);
    }

    private static string TakeLine(MemoryStream line)
    {
        var bytes = line.GetBuffer().AsSpan(0, (int)line.Length);
        if (bytes.Length > 0 && bytes[^1] == (byte)'\r') bytes = bytes[..^1];
        string text = Utf8Lenient.GetString(bytes);
        line.SetLength(0);
        return text;
    }
}
