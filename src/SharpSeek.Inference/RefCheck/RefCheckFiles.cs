// The reference-check interface (../shared/refcheck/README.md): request.json in, response.json out, golden.json
// with tolerances to compare against.
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpSeek.Inference.RefCheck;

public sealed record RefCheckRequest
{
    [JsonPropertyName("format")] public string Format { get; init; } = "";
    [JsonPropertyName("checkpoint")] public string Checkpoint { get; init; } = "checkpoint";
    [JsonPropertyName("prompt_ids")] public int[] PromptIds { get; init; } = [];
    [JsonPropertyName("decode_steps")] public int DecodeSteps { get; init; }
    [JsonPropertyName("decode_feed_ids")] public int[] DecodeFeedIds { get; init; } = [];
    [JsonPropertyName("full_sequence_ids")] public int[] FullSequenceIds { get; init; } = [];
    [JsonPropertyName("mtp")] public bool Mtp { get; init; }

    /// <summary>Reads and checks a request; the checkpoint path is resolved against the request's directory.</summary>
    public static (RefCheckRequest Request, string CheckpointDir) Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such request file.");
        RefCheckRequest? r;
        try { r = JsonSerializer.Deserialize<RefCheckRequest>(File.ReadAllText(path), Strict); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a valid request JSON ({e.Message}).", e); }
        if (r is null) throw new InvalidDataException($"{path}: empty request.");
        if (!r.Format.StartsWith("deepseek-v3-refcheck/", StringComparison.Ordinal))
            throw new InvalidDataException($"{path}: 'format' is \"{r.Format}\"; expected \"deepseek-v3-refcheck/1\".");
        if (r.PromptIds.Length == 0) throw new InvalidDataException($"{path}: 'prompt_ids' is empty.");
        if (r.DecodeSteps < 0) throw new InvalidDataException($"{path}: 'decode_steps' must be >= 0.");
        if (r.DecodeSteps > 0 && r.DecodeFeedIds.Length < r.DecodeSteps - 1)
            throw new InvalidDataException($"{path}: {r.DecodeSteps} decode steps need {r.DecodeSteps - 1} 'decode_feed_ids', got {r.DecodeFeedIds.Length}.");
        string dir = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, r.Checkpoint));
        return (r, dir);
    }

    /// <summary>A JSON null for a non-nullable field (say "format": null) is a JsonException naming the field, not
    /// a null that fails later.</summary>
    private static readonly JsonSerializerOptions Strict = new() { RespectNullableAnnotations = true };
}

public sealed record RefCheckResponse
{
    [JsonPropertyName("format")] public string Format { get; init; } = "deepseek-v3-refcheck/response/1";
    [JsonPropertyName("impl")] public string Impl { get; init; } = "sharpseek";
    [JsonPropertyName("precision")] public string Precision { get; init; } = "fp32";
    [JsonPropertyName("decode_logits")] public float[][] DecodeLogits { get; init; } = [];
    [JsonPropertyName("full_logits")] public float[][] FullLogits { get; init; } = [];
    [JsonPropertyName("mtp_logits")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public float[][]? MtpLogits { get; init; }

    public void Save(string path)
    {
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(this));
        File.Move(tmp, path, overwrite: true);
    }

    public static RefCheckResponse Load(string path) =>
        JsonSerializer.Deserialize<RefCheckResponse>(File.ReadAllText(path))
        ?? throw new InvalidDataException($"{path}: empty response.");
}

/// <summary>The parts of golden.json a comparison needs.</summary>
public sealed class RefCheckGolden
{
    public required double[][] Decode { get; init; }
    public required double[][] Full { get; init; }
    public double[][]? Mtp { get; init; }
    public required JsonElement Tolerances { get; init; }
    public JsonElement? Debug { get; init; }

    public static RefCheckGolden Load(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        static double[][] Rows(JsonElement e) =>
            e.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        return new RefCheckGolden
        {
            Decode = Rows(root.GetProperty("decode").GetProperty("logits")),
            Full = Rows(root.GetProperty("full_sequence").GetProperty("logits")),
            Mtp = root.TryGetProperty("mtp", out var m) && m.TryGetProperty("logits", out var ml) ? Rows(ml) : null,
            Tolerances = root.GetProperty("tolerances").Clone(),
            Debug = root.TryGetProperty("debug", out var d) ? d.Clone() : null,
        };
    }
}
