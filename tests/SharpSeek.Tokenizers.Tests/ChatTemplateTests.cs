using System.Text.Json;
using SharpSeek.Tokenizers;
using SharpSeek.Tokenizers.Jinja;

namespace SharpSeek.Tokenizers.Tests;

/// <summary>Renderings against Python Jinja2 3.1.6 configured as transformers configures it (see TestData/README.md).</summary>
public sealed class ChatTemplateTests
{
    private static readonly string DeepSeekTemplate = JsonDocument.Parse(File.ReadAllText(
        TestFiles.Path("deepseek-v3/tokenizer_config.json"))).RootElement.GetProperty("chat_template").GetString()!;

    public static TheoryData<string> Cases() => new(Golden().Select(g => g.GetProperty("name").GetString()!));

    private static IEnumerable<JsonElement> Golden() => File.ReadLines(TestFiles.Path("chat-template-golden.jsonl"))
        .Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Render_MatchesJinja2(string name)
    {
        JsonElement g = Golden().Single(x => x.GetProperty("name").GetString() == name);
        string source = g.GetProperty("template").GetString()!;
        if (source == "deepseek-v3") source = DeepSeekTemplate;
        var vars = g.GetProperty("vars").EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value);
        var template = new JinjaTemplate(source);
        if (g.TryGetProperty("error", out _))
        {
            Assert.Throws<JinjaException>(() => template.Render(vars));
            return;
        }
        Assert.Equal(g.GetProperty("output").GetString(), template.Render(vars));
    }

    [Fact]
    public void DeepSeekV3_ToolCallConversation_ThroughTypedMessages_MatchesJinja2()
    {
        JsonElement g = Golden().Single(x => x.GetProperty("name").GetString() == "deepseek-v3/one_tool_call/agp=True");
        var chat = new ChatTemplate(DeepSeekTemplate, "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>");
        string rendered = chat.Render(
        [
            ChatMessage.User("Weather in Paris?"),
            ChatMessage.AssistantToolCalls(new ChatToolCall("get_weather", "{\"city\": \"Paris\"}")),
            ChatMessage.Tool("{\"temp\": 21}"),
            ChatMessage.Assistant("It is 21°C in Paris."),
        ], addGenerationPrompt: true);
        Assert.Equal(g.GetProperty("output").GetString(), rendered);
    }

    [Theory]
    [InlineData("{% macro f() %}{% endmacro %}")]
    [InlineData("{{ x | no_such_filter }}")]
    [InlineData("{% if true %}unclosed")]
    [InlineData("{{ 'unterminated }}")]
    public void Unsupported_Or_Malformed_Templates_FailLoudly(string source)
    {
        Assert.Throws<JinjaException>(() => new JinjaTemplate(source).Render(new Dictionary<string, object?> { ["x"] = 1L }));
    }
}
