// TrainingRun — `sharpseek train` end to end: data, model, the step loop with validation, metrics, progress and
// checkpoints, then plots and a sample generation through the inference engine with the trained weights.
using System.Diagnostics;
using SharpSeek.Inference;
using SharpSeek.Model;
using SharpSeek.Numerics;
using SharpSeek.Training.Checkpoints;
using SharpSeek.Training.Data;
using SharpSeek.Training.Metrics;
using Spectre.Console;

namespace SharpSeek.Training;

/// <summary>How the run ends: a sample continuation of <see cref="Prompt"/> (temperature 0 = greedy).</summary>
public sealed record SampleSettings(string Prompt = "The", int MaxTokens = 64, double Temperature = 0.8, int TopK = 40);

public sealed record TrainingSummary(
    string Model, long Steps, long TokensSeen, double Seconds, double TokensPerSecond, double LastLoss, double? LastValLoss,
    double? BestValLoss, double UnigramValidationCrossEntropy, LayerLoad[] ExpertLoad, string Checkpoint,
    IReadOnlyList<string> Plots, string? Prompt, string? Sample, bool Resumed);

public static class TrainingRun
{
    public static TrainingSummary Run(TrainingOptions options, IAnsiConsole console, SampleSettings? sample, bool? live = null,
        string? cacheRoot = null)
    {
        ModelConfig config = ModelConfig.FromPresetOrPath(options.Preset);
        options.Validate(config);
        string outDir = options.EffectiveOut;
        void Log(string line) => console.Profile.Out.Writer.WriteLine(line);
        using TrainingData data = TrainingData.Prepare(options, config, cacheRoot ?? CorpusSource.DefaultCacheRoot, Log);
        using var pool = new WorkerPool(options.EffectiveThreads);
        using var trainer = new Trainer(options, config, data.Train, data.Validation, pool);
        TrainerState state = new();
        if (options.Resume)
        {
            state = trainer.Resume(outDir);
            Log($"resumed from step {state.Step} ({outDir})");
        }
        else trainer.InitializeWeights();
        Log($"model: {Path.GetFileName(options.Preset)}, {trainer.Store.ElementCount:N0} parameter slots' elements; " +
            $"B={options.Batch} ({options.MicroBatches} micro-batches) × T={options.Seq}, {options.Steps} steps, {pool.Threads} thread(s)");

        long tokens = state.TokensSeen;
        double elapsed = state.ElapsedSeconds, runSeconds = 0;
        double? lastVal = state.LastValLoss, bestVal = state.BestValLoss;
        double lastLoss = state.LastLoss ?? double.NaN;
        TrainerState Current() => new()
        {
            TokensSeen = tokens, ElapsedSeconds = elapsed, LastLoss = lastLoss, LastValLoss = lastVal, BestValLoss = bestVal,
        };
        string checkpoint = "";
        using (MetricsLog metrics = MetricsLog.Open(outDir, options.Resume ? state.Step : null))
        {
            ProgressDisplay.Run(console, options.Steps, sink =>
            {
                while (trainer.StepCount < options.Steps)
                {
                    StepResult r = trainer.Step();
                    long step = r.Step;
                    double? val = null;
                    if ((options.EvalInterval > 0 && step % options.EvalInterval == 0) || step == options.Steps)
                    {
                        val = trainer.ValidationLoss();
                        lastVal = val;
                        bestVal = Math.Min(bestVal ?? double.PositiveInfinity, val.Value);
                    }
                    tokens += r.Tokens;
                    elapsed += r.Seconds;
                    runSeconds += r.Seconds;
                    lastLoss = r.Loss;
                    var record = new MetricsRecord
                    {
                        Step = step, Loss = r.Loss, MtpLoss = trainer.MtpDepth > 0 ? r.MtpLoss : null,
                        BalanceLoss = options.AuxAlpha > 0 ? r.BalanceLoss : null, ValLoss = val, Lr = r.Lr,
                        TokensPerSecond = r.Tokens / r.Seconds, GradNorm = r.GradNorm, ExpertLoad = trainer.LastLayerLoads(),
                    };
                    metrics.Append(record);
                    sink.Step(record);
                    if (options.SaveInterval > 0 && step % options.SaveInterval == 0 && step != options.Steps)
                        sink.Info($"checkpoint: {trainer.Save(outDir, data.TokenizerDirectory, Current())}");
                }
                checkpoint = trainer.Save(outDir, data.TokenizerDirectory, Current());
                sink.Info($"checkpoint: {checkpoint}");
            }, live);
        }
        var plots = TrainingPlots.Write(MetricsLog.ReadAll(Path.Combine(outDir, MetricsLog.FileName)), outDir,
            $"{Path.GetFileName(options.Preset)} · B={options.Batch} T={options.Seq}");
        string? text = null;
        if (sample is not null) text = Sample(trainer, pool, data.Encoder.Tokenizer, sample, options.Seed);
        return new TrainingSummary(Path.GetFileName(options.Preset), trainer.StepCount, tokens, elapsed,
            runSeconds > 0 ? (tokens - state.TokensSeen) / runSeconds : 0, lastLoss, lastVal, bestVal,
            data.Baseline.ValidationCrossEntropy, trainer.LastLayerLoads(), checkpoint, plots, sample?.Prompt, text, options.Resume);
    }

    /// <summary>Continues <paramref name="s"/>.Prompt with the trained weights through the inference engine (latent KV cache).</summary>
    public static string Sample(Trainer trainer, WorkerPool pool, SharpSeek.Tokenizers.Tokenizer tokenizer, SampleSettings s, ulong seed)
    {
        int[] prompt = tokenizer.Encode(s.Prompt);
        if (prompt.Length == 0) throw new ArgumentException("the sample prompt encodes to no tokens; give a non-empty --prompt.");
        int context = Math.Min(trainer.Config.MaxPositionEmbeddings, prompt.Length + s.MaxTokens);
        using var engine = new InferenceEngine(trainer.Weights, new Model.Layers.ForwardContext(pool), 1, context, Math.Max(prompt.Length, 16));
        var sampling = new SamplingOptions(s.Temperature, 1.0, s.TopK, (int)(seed & 0x7FFFFFFF));
        GenerationResult result = Generator.Generate(engine, prompt, context - prompt.Length, sampling, tokenizer.EosId);
        return tokenizer.Decode(result.Tokens, skipSpecialTokens: true);
    }
}
