using SharpSeek.Tokenizers;

namespace SharpSeek.Tokenizers.Tests;

[Collection(DeepSeekCollection.Name)]
public sealed class TokenizerBehaviourTests(DeepSeekTokenizerFixture fixture)
{
    private readonly Tokenizer _tok = fixture.Tokenizer;

    [Fact]
    public void SpecialTokens_AreMatchedBeforePreTokenization()
    {
        // Glued to letters on both sides, the special token is still one id; the pre-tokenizer would otherwise
        // have split "<｜" and "｜>" into punctuation pieces.
        int[] ids = _tok.Encode("abc<｜User｜>def");
        Assert.Contains(128803, ids);
        Assert.Equal("abc<｜User｜>def", _tok.Decode(ids));
        Assert.DoesNotContain(128803, _tok.Encode("abc<｜User｜ >def"));
    }

    [Fact]
    public void DeepSeekV3_Ids_BosEosAndVocabSize()
    {
        Assert.Equal(0, _tok.BosId);
        Assert.Equal(1, _tok.EosId);
        Assert.Equal(128815, _tok.VocabSize);
        Assert.Equal([0, 19923], _tok.Encode("Hello", addSpecialTokens: true));
    }

    [Fact]
    public void Decode_SkipSpecialTokens_DropsThem()
    {
        int[] ids = _tok.Encode("<｜begin▁of▁sentence｜>Hi<｜end▁of▁sentence｜>");
        Assert.Equal("Hi", _tok.Decode(ids, skipSpecialTokens: true));
    }

    [Fact]
    public void Decode_UnknownId_Throws()
    {
        Assert.Throws<UnknownTokenIdException>(() => _tok.Decode([5, 128815]));
        Assert.Throws<UnknownTokenIdException>(() => _tok.Decode([-3]));
        Assert.Null(_tok.IdToToken(128815));
    }

    [Fact]
    public void Decode_PartialUtf8_GivesReplacementCharacter()
    {
        int[] ids = _tok.Encode("中");
        Assert.True(ids.Length >= 1);
        int[] bytes = _tok.Encode("😀");
        Assert.Equal("\uFFFD", _tok.Decode(bytes[..1]).Substring(0, 1));
    }

    [Theory]
    [InlineData("Hello 😀 world 👨‍👩‍👧 中文 𠀀𪜀 done")]
    [InlineData("<｜User｜>Grüße 🇯🇵<｜Assistant｜>ok")]
    public void StreamingDecoder_PiecesAreValidText_AndConcatenateToDecode(string text)
    {
        int[] ids = _tok.Encode(text);
        var stream = new StreamingDecoder(_tok);
        var pieces = ids.Select(stream.Add).Append(stream.Flush()).ToList();
        Assert.Equal(_tok.Decode(ids), string.Concat(pieces));
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
        Assert.Contains(pieces, p => p.Length == 0); // some emoji span several tokens: held back, then released
    }

    [Fact]
    public void StreamingDecoder_UnfinishedSequence_FlushesAsReplacementCharacter()
    {
        int[] ids = _tok.Encode("😀");
        var stream = new StreamingDecoder(_tok);
        Assert.Equal("", stream.Add(ids[0]));
        Assert.Equal("\uFFFD", stream.Flush());
    }

    [Fact]
    public void Encode_LoneSurrogate_IsEncodedAsReplacementCharacter()
    {
        Assert.Equal(_tok.Encode("a\uFFFDb"), _tok.Encode("a\uD800b"));
    }

    [Fact]
    public void EncodeChat_RendersTheTemplateAndStartsWithBos()
    {
        int[] ids = _tok.EncodeChat([ChatMessage.System("Be brief."), ChatMessage.User("Hi")], addGenerationPrompt: true);
        Assert.Equal(0, ids[0]);
        Assert.Equal(128804, ids[^1]); // <｜Assistant｜>
        Assert.Equal("<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi<｜Assistant｜>", _tok.Decode(ids));
    }

    [Theory]
    [InlineData("""{"model":{"type":"Unigram","vocab":[]}}""", "Unigram")]
    [InlineData("""{"model":{"type":"BPE","vocab":{},"merges":[]},"normalizer":{"type":"NFKC"}}""", "NFKC")]
    [InlineData("""{"model":{"type":"BPE","vocab":{},"merges":[]},"pre_tokenizer":{"type":"Whitespace"}}""", "Whitespace")]
    [InlineData("""{"model":{"type":"BPE","vocab":{},"merges":[]},"decoder":{"type":"WordPiece"}}""", "WordPiece")]
    public void Load_UnsupportedComponent_IsRejectedByName(string json, string component)
    {
        var e = Assert.Throws<NotSupportedException>(() => Tokenizer.FromJson(json, null));
        Assert.Contains(component, e.Message);
    }

    [Theory]
    [InlineData("""{"model":{"type":"BPE","vocab":{"a":0},"merges":[]""", null, "my.json: not valid JSON")]
    [InlineData("""{"model":{"type":"BPE","vocab":{"a":"zero"},"merges":[]}}""", null, "my.json: a value is not of the expected kind")]
    [InlineData("""{"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}""", """{"bos_token": """, "tokenizer_config.json beside my.json: not valid JSON")]
    public void Load_MalformedJson_IsRejectedNamingTheFile(string json, string? config, string fragment)
    {
        // found by fuzzing a trained tokenizer.json: System.Text.Json's own exceptions had escaped without the file
        var e = Assert.Throws<InvalidDataException>(() => Tokenizer.FromJson(json, config, "my.json"));
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void Load_InvalidUtf8_IsRejectedNamingTheByte()
    {
        byte[] json = System.Text.Encoding.UTF8.GetBytes("""{"model":{"type":"BPE","vocab":{"ab":0},"merges":[]}}""");
        json[27] = 0xFF;   // the "a" of "ab"
        var e = Assert.Throws<InvalidDataException>(() => SharpSeek.Tokenizers.TokenizerJson.Parse(json, null, "my.json"));
        Assert.Contains("my.json: not valid UTF-8 (byte 27)", e.Message);
    }

    [Fact]
    public void Load_MissingDirectory_SaysWhatToPass()
    {
        var e = Assert.Throws<FileNotFoundException>(() => Tokenizer.Load("/no/such/dir"));
        Assert.Contains("tokenizer.json", e.Message);
    }
}
