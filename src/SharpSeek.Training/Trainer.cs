// Trainer — one optimizer step of DeepSeek-V3 pre-training (llm.c's train loop body), on the model's own FP32
// weights and gradients.
//
//   setup:  weights FP32 + EnableGradients → ParameterStore.Wrap → ParameterInit (fresh) or checkpoint (resume)
//           → AdamW over the store; WindowSampler(seed, position) over the train shard.
//   step:   ZeroGradients
//           for m in 0..M (micro-batches of B/M sequences × T tokens):
//             L_m = CE_main + λ/D · Σ_k CE_k                           (DeepSeekV3.ForwardLoss)
//             per MoE layer ℓ (MTP blocks included): counts += top-K choices;
//                 L_bal += α · Σ_i f_i P_i (SequenceBalanceLoss), ∂L_bal/∂s added into the router's extra dScores
//             backward of L_m + L_bal (DeepSeekV3.Backward; gradients summed over m)
//           g(embed) += Σ_k g(mtp_k.embed); g(lm_head) += Σ_k g(mtp_k.head)   (shared, as in the report)
//           AdamW.Step(lr(step), M)  (clip by ‖g/M‖, decoupled decay, bias-corrected moments)
//           mtp_k.embed ← embed; mtp_k.head ← lm_head
//           b_ℓ += γ · sign(mean load − load)  (ExpertBalancer.ApplyAndReset)
// DeepSeek-V3 §2.2: each MTP module shares the embedding layer and the output head with the main model. The HF
// layout keeps a copy of both per MTP layer (`model.layers.{L+k}.embed_tokens` / `.shared_head.head`), so the
// copies are Frozen for the optimizer, their gradients are added into the main tensors, and they are refreshed
// from them after every update (and after init); checkpoints hold equal copies, as DeepSeek's do.
// The step allocates no managed memory after the first (warm-up) step: every buffer is owned here or by the model.
// Bit-exact resume: the whole state is the store's weights (router biases included), AdamW's moments and step
// count, and the sampler's position; everything else is a function of the options.
using System.Diagnostics;
using SharpSeek.Model;
using SharpSeek.Model.Layers;
using SharpSeek.Numerics;
using SharpSeek.Training.Checkpoints;
using SharpSeek.Training.Data;
using SharpSeek.Training.Metrics;

namespace SharpSeek.Training;

/// <summary>Losses and statistics of one optimizer step (means over its micro-batches).</summary>
public readonly record struct StepResult(long Step, double Loss, double MtpLoss, double BalanceLoss, double Lr,
    double GradNorm, int Tokens, double Seconds);

/// <summary>Wall time spent per phase since construction (or <see cref="Trainer.ResetTimers"/>).</summary>
public readonly record struct PhaseTimes(double ForwardSeconds, double BackwardSeconds, double OptimizerSeconds);

public sealed class Trainer : IDisposable
{
    private readonly record struct MoeSite(MoeRouter Router, int MoeIndex, int MtpDepth);

    public TrainingOptions Options { get; }
    /// <summary>The trained configuration (num_nextn_predict_layers = the effective MTP depth).</summary>
    public ModelConfig Config { get; }
    public ModelWeights Weights { get; }
    public DeepSeekV3 Model { get; }
    public ParameterStore Store { get; }
    public AdamW Optimizer { get; }
    public ExpertBalancer Balancer { get; }
    public WindowSampler Sampler { get; }
    public LearningRateSchedule Schedule { get; }
    public WorkerPool Pool { get; }
    public int MicroBatchSequences { get; }
    public int MtpDepth { get; }

    private readonly TokenShard? _validation;
    private readonly TokenBatch _batch;            // (B/M) windows of T + 1 + D tokens
    private readonly ForwardBatch _forward;        // (B/M · T) rows
    private readonly MoeSite[] _sites;
    private readonly float[][] _f;                 // per site (B/M, E) balance-loss f_i
    private readonly double[] _loads;              // per MoE layer, max/mean load of the last step
    private long _forwardTicks, _backwardTicks, _optimizerTicks;
    private readonly SavePause? _pause = SavePause.FromEnvironment();
    private readonly (int Main, int Copy)[] _tied;  // store slots: main embedding/head ← MTP copies

    /// <summary>Builds the model, store and optimizer for <paramref name="options"/>; weights are left zero — call
    /// <see cref="InitializeWeights"/> or <see cref="Resume"/>.</summary>
    public Trainer(TrainingOptions options, ModelConfig config, TokenShard train, TokenShard? validation, WorkerPool pool)
    {
        options.Validate(config);
        Options = options;
        MtpDepth = options.EffectiveMtpDepth(config);
        Config = config with { NumNextnPredictLayers = MtpDepth };
        if (train.VocabSize > Config.VocabSize)
            throw new InvalidDataException($"the token shard uses a vocabulary of {train.VocabSize} but the model has {Config.VocabSize}; use a tokenizer of at most vocab_size tokens.");
        Pool = pool;
        MicroBatchSequences = options.Batch / options.MicroBatches;
        int T = options.Seq;
        Weights = ModelWeights.Allocate(Config, WeightDType.F32);
        try
        {
            Weights.EnableGradients();
            Model = new DeepSeekV3(Weights, new ForwardContext(pool), new ForwardCapacity(MicroBatchSequences * T, MicroBatchSequences, T));
            Store = ParameterStore.Wrap(Weights, DecayRuleFor(Config));
            Optimizer = new AdamW(Store, new AdamWSettings(options.Beta1, options.Beta2, options.Epsilon, options.WeightDecay, options.GradClip, options.Moments == "bf16"), pool);
        }
        catch
        {
            Dispose();
            throw;
        }
        Balancer = ExpertBalancer.ForModel(Config, options.BiasGamma);
        Sampler = new WindowSampler(train, options.Seed);
        Schedule = options.Schedule();
        _validation = validation;
        _batch = new TokenBatch(MicroBatchSequences, T, MtpDepth);
        _forward = new ForwardBatch(MicroBatchSequences * T, MicroBatchSequences);

        var sites = new List<MoeSite>();
        foreach (DecoderBlock block in Model.Blocks)
            if (block.Moe is { } moe) sites.Add(new MoeSite(moe.Router, Balancer.MoeIndex(block.Layer), 0));
        foreach (MtpModule module in Model.Mtp)
            if (module.Block.Moe is { } moe) sites.Add(new MoeSite(moe.Router, Balancer.MoeIndex(module.Block.Layer), module.Depth));
        _sites = [.. sites];
        _f = _sites.Select(s => new float[MicroBatchSequences * s.Router.ExpertCount]).ToArray();
        _loads = new double[Balancer.MoeLayers.Count];
        _tied = SharedCopies(Config).Select(p => (Store.IndexOf(p.Main), Store.IndexOf(p.Copy))).ToArray();
    }

    /// <summary>(main tensor, MTP copy) pairs that DeepSeek-V3 shares: the embedding and the output head of every
    /// MTP depth.</summary>
    public static IEnumerable<(string Main, string Copy)> SharedCopies(ModelConfig config)
    {
        for (int k = 0; k < config.NumNextnPredictLayers; k++)
        {
            string p = $"model.layers.{config.NumHiddenLayers + k}.";
            yield return ("model.embed_tokens.weight", p + "embed_tokens.weight");
            yield return ("lm_head.weight", p + "shared_head.head.weight");
        }
    }

    /// <summary>The trainer's treatment of every parameter: <see cref="DecayRules.Default"/>, and Frozen for the MTP
    /// copies of the shared embedding and head. A store that loads a training checkpoint must use it.</summary>
    public static DecayRule DecayRuleFor(ModelConfig config)
    {
        var copies = SharedCopies(config).Select(p => p.Copy).ToHashSet(StringComparer.Ordinal);
        return (name, shape) => copies.Contains(name) ? ParameterTreatment.Frozen : DecayRules.Default(name, shape);
    }

    /// <summary>Main ← main + copies (gradients), before the optimizer.</summary>
    private void GatherSharedGradients()
    {
        foreach (var (main, copy) in _tied)
            Activations.Add(Store.Grads(main), Store.Grads(copy), Store.Grads(main), Pool);   // on the pool: same bits
    }

    /// <summary>Copies ← main (weights), after init, resume and every optimizer step.</summary>
    private void SyncSharedWeights()
    {
        foreach (var (main, copy) in _tied) Store.Weights(main).CopyTo(Store.Weights(copy));
    }

    /// <summary>Fresh run: N(0, init_std²) matrices, unit norms, zero vectors and router biases (seeded per tensor).</summary>
    public void InitializeWeights()
    {
        ParameterInit.Initialize(Store, Options.Seed, Options.InitStd);
        SyncSharedWeights();
    }

    /// <summary>Restores weights, moments, step and data position from the newest complete checkpoint under
    /// <paramref name="outDir"/>; refuses (naming the flag) options that would change the computation.</summary>
    public TrainerState Resume(string outDir)
    {
        string dir = CheckpointDirectory.Resolve(outDir)
            ?? throw new IOException($"--resume: no complete checkpoint under '{outDir}'; run without --resume to start afresh.");
        TrainerState state = TrainerState.Load(Path.Combine(dir, TrainerState.FileName));
        if (state.Options is { } saved) Options.CheckResumableFrom(saved);
        state = TrainingCheckpoint.Load(dir, Store, Optimizer);
        SyncSharedWeights();
        Sampler.Position = state.DataPosition;
        return state;
    }

    /// <summary>Saves a checkpoint of the current state and points <c>&lt;outDir&gt;/checkpoint</c> at it (crash-safe;
    /// <see cref="SavePause"/> can stop the process inside the save for a kill -9 test).</summary>
    public string Save(string outDir, string? tokenizerDir, TrainerState extra) =>
        TrainingCheckpoint.Save(outDir, Config, Store, Optimizer, tokenizerDir,
            extra with { DataPosition = Sampler.Position, Seed = Options.Seed, Options = Options }, _pause is null ? null : _pause.Hook);

    public long StepCount => Optimizer.StepCount;

    /// <summary>Elements the optimizer updates (every slot but the router biases, which the balancer owns, and the
    /// MTP copies of the shared embedding and head).</summary>
    public long TrainedParameters
    {
        get
        {
            long n = 0;
            foreach (ParameterSlot slot in Store.Slots) if (slot.Treatment != ParameterTreatment.Frozen) n += slot.Length;
            return n;
        }
    }

    /// <summary>Max/mean expert load of every MoE layer in the last step (order of <see cref="ExpertBalancer.MoeLayers"/>).</summary>
    public ReadOnlySpan<double> LastLoads => _loads;

    public LayerLoad[] LastLayerLoads()
    {
        var loads = new LayerLoad[_loads.Length];
        for (int m = 0; m < loads.Length; m++) loads[m] = new LayerLoad(Balancer.MoeLayers[m], _loads[m]);
        return loads;
    }

    /// <summary>Per MoE layer (order of <see cref="ExpertBalancer.MoeLayers"/>, MTP blocks included): the spread of
    /// the router's unbiased sigmoid scores over the last micro-batch — the standard deviation over experts of each
    /// expert's mean score — which is the difference the bias b has to offset to even the load out.</summary>
    public double[] RouterScoreSpread()
    {
        var spread = new double[_sites.Length];
        for (int s = 0; s < _sites.Length; s++)
        {
            var (router, _, depth) = _sites[s];
            int rows = depth == 0 ? _forward.Tokens : Model.Mtp[depth - 1].Batch.Tokens, e = router.ExpertCount;
            if (rows == 0) continue;
            ReadOnlySpan<float> scores = router.ScoresOf(rows);   // (rows, E)
            var mean = new double[e];                              // (E,) mean score of each expert
            for (int r = 0; r < rows; r++)
                for (int i = 0; i < e; i++) mean[i] += scores[r * e + i] / (double)rows;
            double avg = mean.Average();
            spread[s] = Math.Sqrt(mean.Sum(m => (m - avg) * (m - avg)) / e);
        }
        return spread;
    }

    public PhaseTimes Times => new(Seconds(_forwardTicks), Seconds(_backwardTicks), Seconds(_optimizerTicks));
    public void ResetTimers() => _forwardTicks = _backwardTicks = _optimizerTicks = 0;
    private static double Seconds(long ticks) => ticks / (double)Stopwatch.Frequency;

    /// <summary>One optimizer step over B sequences (M micro-batches). Allocates nothing after the first call.</summary>
    public StepResult Step()
    {
        long start = Stopwatch.GetTimestamp();
        int M = Options.MicroBatches;
        float lambda = (float)Options.MtpWeight;
        Store.ZeroGradients(Pool);
        double loss = 0, mtp = 0, balance = 0;
        for (int m = 0; m < M; m++)
        {
            Sampler.Next(_batch);
            LoadForwardBatch();
            long t0 = Stopwatch.GetTimestamp();
            loss += Model.ForwardLoss(_forward, _batch.Targets);
            mtp += MeanMtpLoss();
            balance += BalanceLoss();
            long t1 = Stopwatch.GetTimestamp();
            Model.Backward(lambda);
            long t2 = Stopwatch.GetTimestamp();
            _forwardTicks += t1 - t0;
            _backwardTicks += t2 - t1;
        }
        long o0 = Stopwatch.GetTimestamp();
        double lr = Schedule.At(Optimizer.StepCount);
        GatherSharedGradients();
        StepReport report = Optimizer.Step(lr, M);
        SyncSharedWeights();
        for (int l = 0; l < _loads.Length; l++) _loads[l] = ExpertBalancer.MaxOverMean(Balancer.Counts(l));
        Balancer.ApplyAndReset(Store);
        long end = Stopwatch.GetTimestamp();
        _optimizerTicks += end - o0;
        return new StepResult(Optimizer.StepCount, loss / M, mtp / M, balance / M, lr, report.GradNorm,
            Options.Batch * Options.Seq, Seconds(end - start));
    }

    /// <summary>Mean next-token cross-entropy over <see cref="TrainingOptions.EvalBatches"/> fixed validation batches.</summary>
    public double ValidationLoss()
    {
        TokenShard shard = _validation ?? throw new InvalidOperationException("this trainer has no validation shard.");
        double sum = 0;
        for (int i = 0; i < Options.EvalBatches; i++)
        {
            WindowSampler.ValidationBatch(shard, _batch, i);
            LoadForwardBatch();
            sum += Model.ForwardLoss(_forward, _batch.Targets);
        }
        return sum / Options.EvalBatches;
    }

    private void LoadForwardBatch()
    {
        int T = Options.Seq;
        _forward.Clear();
        for (int b = 0; b < MicroBatchSequences; b++) _forward.Add(b, 0, _batch.Inputs.AsSpan(b * T, T));
    }

    private double MeanMtpLoss()
    {
        ReadOnlySpan<double> depths = Model.MtpLosses;
        double sum = 0;
        int n = 0;
        foreach (double d in depths) if (!double.IsNaN(d)) { sum += d; n++; }
        return n == 0 ? 0 : sum / n;
    }

    /// <summary>Counts every MoE layer's choices and adds the sequence-wise balance loss's gradient into its router's
    /// extra score gradient (zeroed by the forward). Returns Σ over layers of α·Σ_i f_i P_i (mean over sequences).</summary>
    private double BalanceLoss()
    {
        int B = MicroBatchSequences;
        double total = 0;
        for (int s = 0; s < _sites.Length; s++)
        {
            var (router, moeIndex, depth) = _sites[s];
            int rows = depth == 0 ? _forward.Tokens : Model.Mtp[depth - 1].Batch.Tokens;
            int k = router.TopK, e = router.ExpertCount;
            ReadOnlySpan<int> experts = router.Experts.AsSpan(0, rows * k);        // (rows, K)
            Balancer.Record(moeIndex, experts);
            if (Options.AuxAlpha == 0 || rows == 0) continue;
            int seqLen = rows / B;                                                // MTP depth k: T − k rows per sequence
            ReadOnlySpan<float> scores = router.ScoresOf(rows);                   // (rows, E)
            total += SequenceBalanceLoss.Forward(scores, experts, B, seqLen, e, k, Options.AuxAlpha, _f[s].AsSpan());
            SequenceBalanceLoss.Backward(scores, (ReadOnlySpan<float>)_f[s], B, seqLen, e, Options.AuxAlpha, router.ExtraScoreGradOf(rows));
        }
        return total;
    }

    public void Dispose()
    {
        Optimizer?.Dispose();
        Store?.Dispose();
        Model?.Dispose();
        Weights.Dispose();
    }
}
