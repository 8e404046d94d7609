using System.Buffers;
using System.Text;

namespace SharpSeek.Tokenizers;

/// <summary>
/// Decodes generated ids one at a time for streaming output. A token can end in the middle of a UTF-8 sequence
/// (byte-level BPE splits 😀 into several tokens); such trailing bytes are held back until the sequence is
/// complete, so every returned piece is valid text and the concatenation of all pieces plus <see cref="Flush"/>
/// equals <see cref="Tokenizer.Decode"/> of all ids. Not thread-safe: one per generation stream.
/// </summary>
public sealed class StreamingDecoder(Tokenizer tokenizer, bool skipSpecialTokens = false)
{
    private readonly List<byte> _pending = new();
    private static readonly UTF8Encoding Lenient = new(false, false);

    /// <summary>Adds one id; returns the text that became complete (possibly empty).</summary>
    public string Add(int id)
    {
        if (skipSpecialTokens && tokenizer.IsSpecial(id)) { _ = tokenizer.BytesOf(id); return ""; }
        _pending.AddRange(tokenizer.BytesOf(id));
        int complete = CompletePrefixLength(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending));
        if (complete == 0) return "";
        string text = Lenient.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending)[..complete]);
        _pending.RemoveRange(0, complete);
        return text;
    }

    /// <summary>Returns whatever is still held back (an unfinished sequence becomes U+FFFD) and resets.</summary>
    public string Flush()
    {
        string text = Lenient.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending));
        _pending.Clear();
        return text;
    }

    /// <summary>Length of the prefix that does not end inside a UTF-8 sequence that later bytes could still
    /// complete. Invalid bytes count as complete (they decode to U+FFFD now, as in a one-shot decode).</summary>
    private static int CompletePrefixLength(ReadOnlySpan<byte> bytes)
    {
        // Look back at most 3 bytes for the start of a multi-byte sequence that is still missing continuation bytes.
        for (int back = 1; back <= Math.Min(3, bytes.Length); back++)
        {
            byte b = bytes[^back];
            if ((b & 0xC0) == 0x80) continue; // continuation byte: keep looking for the lead byte
            int needed = b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xC2 && b <= 0xDF ? 2 : 1;
            if (needed <= back) return bytes.Length;
            // Hold back only if what we have is a valid prefix of a sequence.
            return Rune.DecodeFromUtf8(bytes[^back..], out _, out _) == OperationStatus.NeedMoreData ? bytes.Length - back : bytes.Length;
        }
        return bytes.Length;
    }
}
