using System.Text;
using SharpSeek.Tokenizers;

namespace SharpSeek.Tokenizers.Tests;

/// <summary>The defined behaviour of <c>sharpseek tokenize</c> at its boundary (see <see cref="TokenStreams"/>).</summary>
[Collection(DeepSeekCollection.Name)]
public sealed class TokenStreamsTests(DeepSeekTokenizerFixture fixture)
{
    private readonly Tokenizer _tok = fixture.Tokenizer;

    private string Encode(byte[] input, bool addSpecial = false)
    {
        var output = new StringWriter();
        TokenStreams.EncodeLines(_tok, new MemoryStream(input), output, addSpecial);
        return output.ToString();
    }

    private string Decode(string input)
    {
        var output = new StringWriter();
        TokenStreams.DecodeLines(_tok, new MemoryStream(Encoding.UTF8.GetBytes(input)), output);
        return output.ToString();
    }

    [Fact]
    public void EncodeLines_OneArrayPerLine_EmptyLineIsEmptyArray_CrLfAccepted()
    {
        string output = Encode(Encoding.UTF8.GetBytes("Hello\n\nworld\r\nlast"));
        Assert.Equal("[19923]\n[]\n[29616]\n[10071]\n", output); // ids from Hugging Face tokenizers
    }

    [Fact]
    public void EncodeLines_InvalidUtf8_BecomesReplacementCharacter()
    {
        byte[] input = [(byte)'a', 0xFF, (byte)'b', 0xE4, 0xB8, (byte)'\n']; // a stray byte and a truncated 3-byte sequence
        string output = Encode(input);
        Assert.Equal("[67,2808,68,2808]\n", output); // HF ids of "a\uFFFDb\uFFFD"
    }

    [Fact]
    public void EncodeLines_AddSpecialTokens_PrependsBos()
    {
        Assert.Equal("[0,19923]\n", Encode("Hello\n"u8.ToArray(), addSpecial: true));
    }

    [Fact]
    public void EncodeLines_OneMegabyteLine_RoundTrips()
    {
        var rng = new Random(1);
        var sb = new StringBuilder();
        while (sb.Length < 1 << 20) sb.Append(rng.Next(3) == 0 ? "中文𠀀 " : "word ").Append(rng.Next(1000)).Append(new string('a', rng.Next(50)));
        string line = sb.ToString();
        string encoded = Encode(Encoding.UTF8.GetBytes(line + "\n"));
        Assert.Equal(line + "\n", Decode(encoded));
    }

    [Fact]
    public void DecodeLines_UnknownId_NamesTheLineAndTheId()
    {
        var e = Assert.Throws<InvalidDataException>(() => Decode("[19923]\n[1, 999999]\n"));
        Assert.Contains("line 2", e.Message);
        Assert.Contains("999999", e.Message);
        Assert.Throws<InvalidDataException>(() => Decode("[-1]\n"));
    }

    [Fact]
    public void DecodeLines_NotAJsonArray_IsAClearError()
    {
        var e = Assert.Throws<InvalidDataException>(() => Decode("[1, 2\n"));
        Assert.Contains("line 1", e.Message);
        Assert.Throws<InvalidDataException>(() => Decode("hello\n"));
    }

    [Fact]
    public void DecodeLines_EmptyArrayAndBlankLine_GiveEmptyLines()
    {
        Assert.Equal("\n\nHello\n", Decode("[]\n\n[19923]\n"));
    }
}
