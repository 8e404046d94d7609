// TrainerState — `trainer_state.json` beside the HF files of a checkpoint: everything besides weights and optimizer
// moments that a resumed run needs to continue bit-exactly (step, data position, RNG state), a summary of the
// metrics so far, and the manifest of the checkpoint's files (name → bytes) that makes the checkpoint verifiable.
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpSeek.Training.Checkpoints;

public sealed record TrainerState
{
    public const string FileName = "trainer_state.json";
    public const int CurrentFormat = 1;

    [JsonPropertyName("format")] public int Format { get; init; } = CurrentFormat;
    /// <summary>Optimizer steps completed.</summary>
    [JsonPropertyName("step")] public long Step { get; init; }
    /// <summary>Windows the training sampler has drawn (WindowSampler.Position).</summary>
    [JsonPropertyName("data_position")] public long DataPosition { get; init; }
    [JsonPropertyName("seed")] public ulong Seed { get; init; }
    /// <summary>State of the trainer's random generator (Xoshiro256**.State).</summary>
    [JsonPropertyName("rng_state")] public ulong[] RngState { get; init; } = [];
    [JsonPropertyName("tokens_seen")] public long TokensSeen { get; init; }
    [JsonPropertyName("elapsed_seconds")] public double ElapsedSeconds { get; init; }
    [JsonPropertyName("last_loss")] public double? LastLoss { get; init; }
    [JsonPropertyName("last_val_loss")] public double? LastValLoss { get; init; }
    [JsonPropertyName("best_val_loss")] public double? BestValLoss { get; init; }
    /// <summary>The settings the run was started with, so a resume can refuse incompatible flags.</summary>
    [JsonPropertyName("options")] public TrainingOptions? Options { get; init; }
    /// <summary>Every other file of the checkpoint with its size in bytes; written by CheckpointDirectory.Save.</summary>
    [JsonPropertyName("files")] public SortedDictionary<string, long> Files { get; init; } = new(StringComparer.Ordinal);

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Reading only: "files": null is an error naming the field, not a null met later.</summary>
    private static readonly JsonSerializerOptions ReadJson = new(Json) { RespectNullableAnnotations = true };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static TrainerState Load(string path)
    {
        TrainerState? s;
        try { s = JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(path), ReadJson); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a valid trainer state ({e.Message}).", e); }
        if (s is null) throw new InvalidDataException($"{path}: empty trainer state.");
        if (s.Format != CurrentFormat)
            throw new InvalidDataException($"{path}: trainer state format {s.Format}, this build reads {CurrentFormat}; start a new run with a fresh --out.");
        return s;
    }
}
