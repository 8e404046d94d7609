// MetricsLog — `metrics.jsonl` in the run directory: one JSON object per optimizer step, appended and flushed as
// the run goes, so plots and dashboards can read a live run. On resume the log is cut back to the checkpoint's
// step, so the resumed run appends exactly the lines an uninterrupted run would have written.
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpSeek.Training.Metrics;

/// <summary>Load of one MoE layer in one step.</summary>
public sealed record LayerLoad(
    [property: JsonPropertyName("layer")] int Layer,
    [property: JsonPropertyName("max_over_mean")] double MaxOverMean);

/// <summary>One line of metrics.jsonl.</summary>
public sealed record MetricsRecord
{
    [JsonPropertyName("step")] public long Step { get; init; }
    [JsonPropertyName("loss")] public double Loss { get; init; }
    [JsonPropertyName("mtp_loss")] public double? MtpLoss { get; init; }
    [JsonPropertyName("balance_loss")] public double? BalanceLoss { get; init; }
    [JsonPropertyName("val_loss")] public double? ValLoss { get; init; }
    [JsonPropertyName("lr")] public double Lr { get; init; }
    [JsonPropertyName("tokens_per_second")] public double TokensPerSecond { get; init; }
    [JsonPropertyName("grad_norm")] public double GradNorm { get; init; }
    [JsonPropertyName("expert_load")] public LayerLoad[] ExpertLoad { get; init; } = [];

    /// <summary>The largest max/mean load over the MoE layers (0 without MoE layers).</summary>
    [JsonIgnore] public double WorstExpertLoad => ExpertLoad.Length == 0 ? 0 : ExpertLoad.Max(l => l.MaxOverMean);
}

public sealed class MetricsLog : IDisposable
{
    public const string FileName = "metrics.jsonl";

    internal static readonly JsonSerializerOptions Json = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, // a diverged run logs NaN, not a crash
    };

    private readonly StreamWriter _writer;
    public string Path { get; }

    private MetricsLog(string path, StreamWriter writer) => (Path, _writer) = (path, writer);

    /// <summary>Starts a new log (truncating any old one) or, with <paramref name="resumeStep"/>, keeps the records
    /// with step ≤ resumeStep and appends after them.</summary>
    public static MetricsLog Open(string runDir, long? resumeStep = null)
    {
        Directory.CreateDirectory(runDir);
        string path = System.IO.Path.Combine(runDir, FileName);
        if (resumeStep is { } keep && File.Exists(path))
        {
            var kept = ReadAll(path).Where(r => r.Step <= keep).Select(r => JsonSerializer.Serialize(r, Json));
            string tmp = path + ".tmp";
            File.WriteAllLines(tmp, kept);
            File.Move(tmp, path, overwrite: true);
        }
        else File.WriteAllText(path, "");
        var writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = false };
        return new MetricsLog(path, writer);
    }

    public void Append(MetricsRecord record)
    {
        _writer.WriteLine(JsonSerializer.Serialize(record, Json));
        _writer.Flush();
    }

    /// <summary>Every record of a metrics.jsonl file; a torn last line (killed mid-write) is skipped.</summary>
    public static List<MetricsRecord> ReadAll(string path)
    {
        var list = new List<MetricsRecord>();
        string[] lines = File.ReadAllLines(path);
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            try
            {
                list.Add(JsonSerializer.Deserialize<MetricsRecord>(lines[i], Json)
                         ?? throw new InvalidDataException($"{path}:{i + 1}: null record."));
            }
            catch (JsonException) when (i == lines.Length - 1) { } // torn final line
            catch (JsonException e) { throw new InvalidDataException($"{path}:{i + 1}: not a metrics record: {e.Message}", e); }
        }
        return list;
    }

    public void Dispose() => _writer.Dispose();
}
