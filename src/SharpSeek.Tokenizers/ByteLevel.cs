namespace SharpSeek.Tokenizers;

/// <summary>
/// GPT-2's byte-level alphabet: every byte 0..255 is shown as one printable Unicode character, so a byte string
/// is a string of "byte characters" and BPE can work on bytes without ever meeting an unknown symbol.
/// Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68 bytes map to
/// U+0100.. in byte order (space is 'Ġ' = U+0120, newline is 'Ċ' = U+010A).
/// </summary>
public static class ByteLevel
{
    /// <summary>byte -> its character.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>character -> byte, or -1 when the character is not part of the alphabet. Indexed by char (64K).</summary>
    private static readonly short[] CharToByteTable = BuildCharToByte();

    public static int CharToByte(char c) => CharToByteTable[c];

    /// <summary>The byte-level string of some UTF-8 bytes (one char per byte).</summary>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        return string.Create(bytes.Length, bytes.ToArray(), static (dst, src) =>
        {
            for (int i = 0; i < src.Length; i++) dst[i] = ByteToChar[src[i]];
        });
    }

    /// <summary>The bytes a token decodes to: one byte per char when every char is in the alphabet, otherwise the
    /// token's own UTF-8 bytes (what Hugging Face's ByteLevel decoder does for such tokens, e.g. "<｜User｜>").</summary>
    public static byte[] DecodeToken(string token)
    {
        foreach (char c in token)
            if (CharToByteTable[c] < 0) return System.Text.Encoding.UTF8.GetBytes(token);
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++) bytes[i] = (byte)CharToByteTable[token[i]];
        return bytes;
    }

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)(256 + next++);
        }
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var table = new short[65536];
        Array.Fill(table, (short)-1);
        for (int b = 0; b < 256; b++) table[ByteToChar[b]] = (short)b;
        return table;
    }
}
