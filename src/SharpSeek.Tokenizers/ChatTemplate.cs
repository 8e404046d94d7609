using SharpSeek.Tokenizers.Jinja;

namespace SharpSeek.Tokenizers;

/// <summary>One tool call of an assistant message (OpenAI shape: type "function", name, JSON arguments).</summary>
public sealed record ChatToolCall(string Name, string Arguments, string Type = "function");

/// <summary>A chat message; <see cref="Content"/> is null for an assistant turn that only calls tools.</summary>
public sealed record ChatMessage(string Role, string? Content, IReadOnlyList<ChatToolCall>? ToolCalls = null)
{
    public static ChatMessage System(string content) => new("system", content);
    public static ChatMessage User(string content) => new("user", content);
    public static ChatMessage Assistant(string content) => new("assistant", content);
    public static ChatMessage Tool(string content) => new("tool", content);
    public static ChatMessage AssistantToolCalls(params ChatToolCall[] calls) => new("assistant", null, calls);

    /// <summary>The dictionary a template sees as <c>message</c>.</summary>
    public Dictionary<string, object?> ToTemplateValue()
    {
        var d = new Dictionary<string, object?> { ["role"] = Role, ["content"] = Content };
        if (ToolCalls is not null)
            d["tool_calls"] = ToolCalls.Select(c => (object?)new Dictionary<string, object?>
            {
                ["type"] = c.Type,
                ["function"] = new Dictionary<string, object?> { ["name"] = c.Name, ["arguments"] = c.Arguments },
            }).ToList();
        return d;
    }
}

/// <summary>
/// A Hugging Face chat template (tokenizer_config.json <c>chat_template</c>), rendered as transformers'
/// <c>apply_chat_template</c> does: variables <c>messages</c>, <c>add_generation_prompt</c>, the special-token
/// strings (<c>bos_token</c>, <c>eos_token</c>), optional <c>tools</c> and any extra variables.
/// </summary>
public sealed class ChatTemplate
{
    private readonly JinjaTemplate _template;
    private readonly string? _bos, _eos;

    public ChatTemplate(string source, string? bosToken, string? eosToken)
    {
        Source = source;
        _template = new JinjaTemplate(source);
        _bos = bosToken;
        _eos = eosToken;
    }

    public string Source { get; }

    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false,
        IReadOnlyDictionary<string, object?>? extraVariables = null) =>
        RenderValues(messages.Select(m => (object?)m.ToTemplateValue()).ToList(), addGenerationPrompt, extraVariables);

    /// <summary>Renders messages given as plain data (e.g. parsed JSON in the OpenAI message shape).</summary>
    public string RenderValues(object? messages, bool addGenerationPrompt = false, IReadOnlyDictionary<string, object?>? extraVariables = null)
    {
        var vars = new Dictionary<string, object?>
        {
            ["messages"] = messages,
            ["add_generation_prompt"] = addGenerationPrompt,
        };
        if (_bos is not null) vars["bos_token"] = _bos;
        if (_eos is not null) vars["eos_token"] = _eos;
        if (extraVariables is not null) foreach (var (k, v) in extraVariables) vars[k] = v;
        return _template.Render(vars);
    }
}
