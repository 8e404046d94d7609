using System.CommandLine;
using Spectre.Console;
using SharpSeek.Model;
using SharpSeek.Planner;
using SharpSeek.Planner.Pipeline;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek plan</c> (parameters, FLOPs, KV cache, GPU-hours, cost, memory, serving) and
/// <c>sharpseek plan schedule</c> (pipeline schedules: bubble, memory, timeline picture).</summary>
public static class PlanCommands
{
    public static Command Create()
    {
        var plan = new Command("plan", "Plan a training run or deployment: parameters, FLOPs, KV cache, GPU-hours, days, cost, memory per GPU.");
        var model = new Option<string>("--model") { Description = "Preset (deepseek-v3, tiny, small) or config.json path.", DefaultValueFactory = _ => "deepseek-v3" };
        var gpu = new Option<string>("--gpu") { Description = "GPU preset: h800, h100, h200, a100, b200.", DefaultValueFactory = _ => "h800" };
        var gpus = new Option<int>("--gpus") { Description = "GPUs in the training cluster.", DefaultValueFactory = _ => DeepSeekV3Report.Gpus };
        var tokens = new Option<string>("--tokens") { Description = "Pre-training tokens, e.g. 14.8T, 500B, 1e12.", DefaultValueFactory = _ => "14.8T" };
        var price = new Option<double?>("--price") { Description = "USD per GPU-hour (default: the GPU preset's)." };
        var mfu = new Option<double?>("--mfu") { Description = "Model FLOPs utilization (0-1) against the --mfu-precision peak." };
        var calibrate = new Option<double?>("--calibrate-gpu-hours-per-trillion")
        { Description = "Derive the MFU from a known run: GPU-hours per 10^12 tokens on --calibration-gpu (default: the report's 180000 on H800)." };
        var calibrationGpu = new Option<string>("--calibration-gpu") { Description = "GPU of the known run.", DefaultValueFactory = _ => "h800" };
        var precision = new Option<string>("--mfu-precision") { Description = "Peak the MFU is quoted against: bf16 or fp8.", DefaultValueFactory = _ => "bf16" };
        var seq = new Option<long>("--seq") { Description = "Training sequence length.", DefaultValueFactory = _ => DeepSeekV3Report.SeqLen };
        var ctxExt = new Option<string?>("--context-extension-gpu-hours")
        { Description = "GPU-hours of context extension (default for deepseek-v3: the report's 119K scaled to this plan; else a first-principles estimate)." };
        var post = new Option<string?>("--post-training-gpu-hours")
        { Description = "GPU-hours of post-training (default for deepseek-v3: the report's 5K scaled to this plan; else 0)." };
        var pp = new Option<int?>("--pp") { Description = "Pipeline-parallel ranks (default: the report's 16, fewer for models with fewer layers)." };
        var tp = new Option<int>("--tp") { Description = "Tensor-parallel ranks.", DefaultValueFactory = _ => 1 };
        var ep = new Option<int?>("--ep") { Description = "Expert-parallel ranks dividing TP x DP and the routed experts (default: the report's 64, or the largest power of two <= 64 that divides both)." };
        var dp = new Option<int?>("--dp") { Description = "Data-parallel ranks (ZeRO-1); default GPUs / (PP x TP)." };
        var schedule = new Option<string>("--schedule") { Description = "Pipeline schedule: 1f1b, zb1p, dualpipe, dualpipev.", DefaultValueFactory = _ => "dualpipe" };
        var microBatch = new Option<int>("--micro-batch") { Description = "Sequences per pipeline micro-batch.", DefaultValueFactory = _ => 1 };
        var context = new Option<long>("--context") { Description = "Serving context length for the inference plan.", DefaultValueFactory = _ => 4096 };
        var json = new Option<bool>("--json") { Description = "Print machine-readable JSON." };
        foreach (var o in new Option[] { model, gpu, gpus, tokens, price, mfu, calibrate, calibrationGpu, precision, seq, ctxExt, post, pp, tp, ep, dp, schedule, microBatch, context, json })
            plan.Options.Add(o);

        plan.SetAction(parse =>
        {
            ModelConfig cfg = ModelConfig.FromPresetOrPath(parse.GetValue(model)!);
            bool reportModel = parse.GetValue(model) == "deepseek-v3";
            var acct = new ModelAccounting(cfg);
            GpuSpec g = GpuSpec.FromName(parse.GetValue(gpu)!);
            int n = parse.GetValue(gpus);
            var request = new TrainingRequest(g, n, Quantity.Parse(parse.GetValue(tokens)!, "--tokens"), parse.GetValue(seq),
                parse.GetValue(price) ?? g.PricePerHourUsd, parse.GetValue(mfu), parse.GetValue(calibrate),
                ParsePrecision(parse.GetValue(precision)!), GpuSpec.FromName(parse.GetValue(calibrationGpu)!),
                reportModel ? DeepSeekV3Report.LaterStages : null,
                parse.GetValue(ctxExt) is { } ce ? Quantity.Parse(ce, "--context-extension-gpu-hours") : null,
                parse.GetValue(post) is { } pt ? Quantity.Parse(pt, "--post-training-gpu-hours") : null);
            TrainingEstimate est = TrainingPlan.Estimate(acct, request);

            int ppv = parse.GetValue(pp) ?? Math.Max(1, Math.Min(16, cfg.NumHiddenLayers) & ~1), tpv = parse.GetValue(tp);
            if (n % (ppv * tpv) != 0) throw new ArgumentException($"--gpus {n} is not a multiple of PP x TP = {ppv * tpv}.");
            int dpv = parse.GetValue(dp) ?? n / (ppv * tpv);
            int epv = parse.GetValue(ep) ?? DefaultEp(cfg.NRoutedExperts, tpv * dpv);
            var layout = new ParallelLayout(ppv, tpv, dpv, epv, ScheduleGenerators.ParseKind(parse.GetValue(schedule)!), parse.GetValue(microBatch));
            if (layout.Gpus != n) throw new ArgumentException($"PP x TP x DP = {layout.Gpus} but --gpus is {n}.");
            GpuMemory mem = TrainingMemory.WorstGpu(cfg, layout, request.SeqLen);
            var serving = ServingUnit.ReportUnitsFit(cfg)
                ? new[] { ServingUnit.Prefill(cfg), ServingUnit.Decode(cfg) }.Select(u => InferencePlan.Estimate(acct, u, g, parse.GetValue(context))).ToArray()
                : [];

            if (parse.GetValue(json)) CliRunner.WriteJson(PlanJson(acct, g, request, est, layout, mem, serving));
            else PlanReport.Print(acct, g, request, est, layout, mem, serving, reportModel);
            return 0;
        });

        plan.Subcommands.Add(CreateSchedule());
        plan.Subcommands.Add(CreateGpus());
        return plan;
    }

    private static Command CreateGpus()
    {
        var cmd = new Command("gpus", "List the GPU presets: dense tensor-core peaks, memory, bandwidth, interconnect, price.");
        var json = new Option<bool>("--json") { Description = "Print machine-readable JSON." };
        cmd.Options.Add(json);
        cmd.SetAction(parse =>
        {
            if (parse.GetValue(json)) { CliRunner.WriteJson(GpuSpec.Presets); return 0; }
            var t = new Table().AddColumn("GPU").AddColumn(new TableColumn("BF16 TFLOP/s").RightAligned()).AddColumn(new TableColumn("FP8 TFLOP/s").RightAligned())
                .AddColumn(new TableColumn("memory").RightAligned()).AddColumn(new TableColumn("HBM TB/s").RightAligned())
                .AddColumn(new TableColumn("NVLink GB/s").RightAligned()).AddColumn(new TableColumn("$/hour").RightAligned()).AddColumn("price source");
            foreach (var g in GpuSpec.Presets)
                t.AddRow(g.Name, g.DenseBf16Tflops.ToString("0.#"), g.DenseFp8Tflops?.ToString("0.#") ?? "none (BF16)", $"{g.MemoryGB:g} GB",
                    g.HbmBandwidthTBps.ToString("0.###"), g.NvlinkGBps.ToString("0"), g.PricePerHourUsd.ToString("0.00"), g.PriceSource);
            AnsiConsole.Write(t);
            AnsiConsole.MarkupLine("[grey]Dense peaks (vendor datasheets quote 2:4-sparse figures, twice these). Prices other than H800's are assumptions; override with --price.[/]");
            return 0;
        });
        return cmd;
    }

    /// <summary>The report's EP64, or the largest power of two below it that divides the experts and TP x DP.</summary>
    private static int DefaultEp(int experts, int ranksPerStage)
    {
        int ep = 64;
        while (ep > 1 && ((experts > 0 && experts % ep != 0) || ranksPerStage % ep != 0)) ep /= 2;
        return ep;
    }

    private static PeakPrecision ParsePrecision(string s) => s.ToLowerInvariant() switch
    {
        "bf16" => PeakPrecision.Bf16,
        "fp8" => PeakPrecision.Fp8,
        _ => throw new ArgumentException($"--mfu-precision must be bf16 or fp8 (got '{s}')."),
    };

    private static object PlanJson(ModelAccounting acct, GpuSpec g, TrainingRequest r, TrainingEstimate e, ParallelLayout layout,
        GpuMemory mem, ServingEstimate[] serving)
    {
        var kv = acct.KvCachePerToken();
        return new
        {
            model = new { layers = acct.Config.NumHiddenLayers, hidden_size = acct.Config.HiddenSize, routed_experts = acct.Config.NRoutedExperts },
            total_params = acct.TotalParams,
            activated_params_per_token = acct.ActivatedParamsPerToken,
            mtp_params = acct.Counts.Mtp,
            params_by_component = acct.Breakdown().Select(c => new { component = c.Component, total = c.Total, activated = c.Activated }),
            kv_cache_bytes_per_token = kv.Mla,
            kv_cache = new { mla = kv.Mla, mha = kv.Mha, gqa = kv.Gqa, gqa_groups = kv.GqaGroups, bytes_per_element = kv.BytesPerElement },
            training_flops_per_token = e.FlopsPerToken.Total,
            training_flops = new { main_matmul = e.FlopsPerToken.MainMatmul, mtp_matmul = e.FlopsPerToken.MtpMatmul, attention = e.FlopsPerToken.Attention, seq_len = r.SeqLen },
            gpu = g,
            gpus = r.Gpus,
            tokens = r.Tokens,
            price_per_gpu_hour = r.PricePerHourUsd,
            gpu_hours_per_trillion_tokens = e.GpuHoursPerTrillion,
            pretrain_gpu_hours = e.PretrainGpuHours,
            context_extension_gpu_hours = e.ContextExtensionGpuHours,
            context_extension_first_principles_gpu_hours = e.ContextExtensionFirstPrinciplesGpuHours,
            post_training_gpu_hours = e.PostTrainingGpuHours,
            gpu_hours = e.TotalGpuHours,
            days = e.PretrainDays,
            total_days = e.TotalGpuHours / r.Gpus / 24,
            days_per_trillion_tokens = e.DaysPerTrillion,
            cost_usd = e.CostUsd,
            mfu = e.Mfu,
            implied_mfu = e.ImpliedMfuBf16,
            implied_mfu_fp8 = e.ImpliedMfuFp8,
            mfu_explanation = e.MfuExplanation,
            layout = new { pp = layout.PP, tp = layout.TP, dp = layout.DP, ep = layout.EP, schedule = ScheduleGenerators.Name(layout.Schedule), micro_batch_seqs = layout.MicroBatchSeqs },
            memory_per_gpu = new
            {
                pipeline_rank = mem.PipelineRank,
                stages = mem.Stages,
                dense_params = mem.DenseParams,
                expert_params = mem.ExpertParams,
                activations_in_flight = mem.ActivationsInFlight,
                items = mem.Lines.Select(l => new { item = l.Item, precision = l.Precision, bytes = l.Bytes }),
                total_bytes = mem.TotalBytes,
                gpu_bytes = g.MemoryBytes,
            },
            inference = serving.Select(s => new
            {
                unit = s.Unit.Name,
                gpus = s.Unit.Gpus,
                attention_tp = s.Unit.AttentionTp,
                attention_dp = s.Unit.AttentionDp,
                ep = s.Unit.Ep,
                experts_per_gpu = s.Unit.ExpertsPerGpu,
                weight_bytes_per_gpu = s.WeightBytesPerGpu,
                kv_tokens_per_gpu = s.KvTokensPerGpu,
                kv_tokens_per_unit = s.KvTokensPerUnit,
                context = s.Context,
                sequences_per_unit = s.SequencesPerUnit,
                compute_bound_tokens_per_s = s.ComputeTokensPerSecond,
                memory_bound_tokens_per_s = s.MemoryTokensPerSecond,
            }),
        };
    }

    private static Command CreateSchedule()
    {
        var cmd = new Command("schedule", "Generate a pipeline schedule, simulate it, print its bubble and draw its timeline.");
        var kind = new Option<string>("--kind") { Description = "1f1b, zb1p, dualpipe, dualpipev, or all (a comparison table).", DefaultValueFactory = _ => "dualpipe" };
        var pp = new Option<int>("--pp") { Description = "Pipeline stages (devices; DualPipeV folds them onto PP/2 devices).", DefaultValueFactory = _ => 8 };
        var mb = new Option<int>("--micro-batches") { Description = "Micro-batches per step (DualPipe: both directions together).", DefaultValueFactory = _ => 20 };
        var f = new Option<double>("--f") { Description = "Forward chunk time.", DefaultValueFactory = _ => 1 };
        var b = new Option<double>("--b") { Description = "Full backward chunk time (inputs + weights).", DefaultValueFactory = _ => 2 };
        var w = new Option<double>("--w") { Description = "Backward-for-weights time (part of B).", DefaultValueFactory = _ => 1 };
        var fb = new Option<double?>("--fb") { Description = "Overlapped forward & backward chunk time (default F + B)." };
        var comm = new Option<double>("--comm") { Description = "Latency of each point-to-point transfer between devices (default 0: fully overlapped).", DefaultValueFactory = _ => 0 };
        var png = new Option<string?>("--png") { Description = "Write the timeline picture to this PNG file." };
        var json = new Option<bool>("--json") { Description = "Print the schedule, its timeline and the bubble as JSON." };
        foreach (var o in new Option[] { kind, pp, mb, f, b, w, fb, comm, png, json }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            int stages = parse.GetValue(pp), m = parse.GetValue(mb);
            var times = new OpTimes(parse.GetValue(f), parse.GetValue(b), parse.GetValue(w),
                parse.GetValue(fb) ?? parse.GetValue(f) + parse.GetValue(b), parse.GetValue(comm));
            times.Validate();
            if (parse.GetValue(kind) == "all")
            {
                if (parse.GetValue(png) is not null) throw new ArgumentException("--png draws one schedule; pick a --kind.");
                var all = PipelineScheduleKinds.Select(k => ScheduleSimulator.Run(ScheduleGenerators.Build(k, stages, m), times)).ToArray();
                if (parse.GetValue(json)) CliRunner.WriteJson(all.Select(r => Summary(r)));
                else PlanReport.PrintComparison(all);
                return 0;
            }
            var k = ScheduleGenerators.ParseKind(parse.GetValue(kind)!);
            var schedule = ScheduleGenerators.Build(k, stages, m);
            schedule.Validate();
            var sim = ScheduleSimulator.Run(schedule, times);
            double closed = ClosedForm.Bubble(k, stages, times);
            string? why = times.Comm > 0 ? "transfer latency (--comm) is outside the closed forms" : ClosedForm.WhyNotExact(k, times);
            string? file = parse.GetValue(png);
            if (file is not null)
            {
                string title = $"{ScheduleGenerators.Name(k)}: {stages} PP stages on {schedule.Devices} devices, {m} micro-batches, " +
                               $"F={times.F:g} B={times.B:g} W={times.W:g} F&B={times.FB:g}; bubble {sim.Bubble:g} (closed form {ClosedForm.BubbleFormula(k)} = {closed:g})";
                ScheduleFigure.SavePng(sim, file, title);
            }
            if (parse.GetValue(json)) CliRunner.WriteJson(new { summary = Summary(sim), devices_ops = DeviceOpsJson(sim) });
            else PlanReport.PrintSchedule(sim, closed, why, file);
            return 0;
        });
        return cmd;
    }

    private static readonly ScheduleKind[] PipelineScheduleKinds = [ScheduleKind.OneFOneB, ScheduleKind.Zb1p, ScheduleKind.DualPipe, ScheduleKind.DualPipeV];

    private static object Summary(SimulationResult sim)
    {
        var s = sim.Schedule;
        string? why = sim.Times.Comm > 0 ? "transfer latency (--comm) is outside the closed forms" : ClosedForm.WhyNotExact(s.Kind, sim.Times);
        return new
        {
            kind = ScheduleGenerators.Name(s.Kind),
            stages = s.Stages,
            devices = s.Devices,
            micro_batches = s.MicroBatches,
            times = new { f = sim.Times.F, b = sim.Times.B, w = sim.Times.W, fb = sim.Times.FB, comm = sim.Times.Comm },
            bubble = sim.Bubble,
            closed_form_bubble = ClosedForm.Bubble(s.Kind, s.Stages, sim.Times),
            closed_form = ClosedForm.BubbleFormula(s.Kind),
            closed_form_exact = why is null,
            closed_form_note = why,
            makespan = sim.Makespan,
            idle_per_device = sim.Idle,
            peak_activations_per_device = sim.PeakActivations,
            stages_per_device = s.StagesPerDevice,
        };
    }

    /// <summary>Each device's program with its timing: what the pipeline executor will run.</summary>
    private static object DeviceOpsJson(SimulationResult sim) =>
        sim.Timeline.Select(ops => ops.Select(t => new
        {
            kind = t.Op.Kind.ToString(),
            works = t.Op.Works.Select(x => new { pass = x.Pass.ToString(), micro_batch = x.MicroBatch, stage = x.Stage }),
            receives = t.Op.Receives.Select(x => new { from = x.Peer, kind = x.Kind.ToString(), micro_batch = x.MicroBatch, from_stage = x.FromStage }),
            sends = t.Op.Sends.Select(x => new { to = x.Peer, kind = x.Kind.ToString(), micro_batch = x.MicroBatch, from_stage = x.FromStage }),
            start = t.Start,
            end = t.End,
        }));
}

/// <summary>The human-readable tables of <c>sharpseek plan</c> and <c>plan schedule</c>.</summary>
internal static class PlanReport
{
    private static string B(double v) => Quantity.Format(v);
    private static string GB(double bytes) => bytes >= 1e9 ? $"{bytes / 1e9:F1} GB" : $"{bytes / 1e6:F1} MB";

    private static string Num(double v) => v.ToString("0.###");

    private static string Hours(double h) => h >= 100 ? h.ToString("N0") : h.ToString("G3");

    public static void Print(ModelAccounting acct, GpuSpec g, TrainingRequest r, TrainingEstimate e, ParallelLayout layout,
        GpuMemory mem, ServingEstimate[] serving, bool reportModel)
    {
        var c = acct.Config;
        var pt = new Table().Title("[bold]Parameters[/]").AddColumn("component")
            .AddColumn(new TableColumn("total").RightAligned()).AddColumn(new TableColumn("activated / token").RightAligned());
        foreach (var row in acct.Breakdown()) pt.AddRow(row.Component, row.Total.ToString("N0"), row.Activated.ToString("N0"));
        pt.AddRow("[bold]model (without MTP)[/]", $"[bold]{acct.TotalParams:N0}[/] ({B(acct.TotalParams)})",
            $"[bold]{acct.ActivatedParamsPerToken:N0}[/] ({B(acct.ActivatedParamsPerToken)})");
        AnsiConsole.Write(pt);

        var kv = acct.KvCachePerToken();
        var kt = new Table().Title($"[bold]KV cache per token, BF16, {c.NumHiddenLayers} layers[/]").AddColumn("attention")
            .AddColumn(new TableColumn("elements / layer").RightAligned()).AddColumn(new TableColumn("bytes / token").RightAligned())
            .AddColumn(new TableColumn("vs MLA").RightAligned());
        long perLayer(long bytes) => bytes / c.NumHiddenLayers / kv.BytesPerElement;
        kt.AddRow($"MLA: kv_lora_rank {c.KvLoraRank} + rope {c.QkRopeHeadDim}", perLayer(kv.Mla).ToString("N0"), kv.Mla.ToString("N0"), "1.0x");
        kt.AddRow($"MHA: {c.NumAttentionHeads} heads x (K {c.QkHeadDim} + V {c.VHeadDim})", perLayer(kv.Mha).ToString("N0"), kv.Mha.ToString("N0"), $"{(double)kv.Mha / kv.Mla:F1}x");
        kt.AddRow($"GQA({kv.GqaGroups}): {kv.GqaGroups} KV heads", perLayer(kv.Gqa).ToString("N0"), kv.Gqa.ToString("N0"), $"{(double)kv.Gqa / kv.Mla:F1}x");
        AnsiConsole.Write(kt);

        var f = e.FlopsPerToken;
        var ft = new Table().Title($"[bold]Training FLOPs per token (T = {r.SeqLen})[/]").AddColumn("term").AddColumn(new TableColumn("GFLOP").RightAligned());
        ft.AddRow($"6 x {acct.MatmulParamsPerToken:N0} activated matmul params (no embedding lookup)", $"{f.MainMatmul / 1e9:F1}");
        ft.AddRow($"6 x {acct.MtpMatmulParamsPerToken:N0} MTP matmul params (D = {c.NumNextnPredictLayers})", $"{f.MtpMatmul / 1e9:F1}");
        ft.AddRow($"attention: 3 x H x (Dq + Dv) x (T + 1) x {c.NumHiddenLayers + c.NumNextnPredictLayers} layers (causal)", $"{f.Attention / 1e9:F1}");
        ft.AddRow("[bold]total[/]", $"[bold]{f.Total / 1e9:F1}[/]");
        AnsiConsole.Write(ft);

        var tt = new Table().Title($"[bold]Training on {r.Gpus:N0} x {g.Name} at ${r.PricePerHourUsd:g}/GPU-hour[/]").AddColumn("quantity")
            .AddColumn(new TableColumn("value").RightAligned());
        if (reportModel) tt.AddColumn("DeepSeek-V3 report");
        void Row(string quantity, string value, string report)
        {
            if (reportModel) tt.AddRow(quantity, value, report);
            else tt.AddRow(quantity, value);
        }
        Row("GPU-hours per 10^12 tokens", Hours(e.GpuHoursPerTrillion), "180,000");
        Row($"pre-training GPU-hours ({B(r.Tokens)} tokens)", Hours(e.PretrainGpuHours), "2,664,000");
        Row("days per 10^12 tokens", e.DaysPerTrillion.ToString("G3"), "3.7");
        Row("pre-training days", e.PretrainDays.ToString("G3"), "< 2 months");
        Row("all stages, days on this cluster", (e.TotalGpuHours / r.Gpus / 24).ToString("G3"), "");
        Row("context extension GPU-hours", $"{Hours(e.ContextExtensionGpuHours)} (first principles at this MFU: {Hours(e.ContextExtensionFirstPrinciplesGpuHours)})", "119,000");
        Row("post-training GPU-hours", Hours(e.PostTrainingGpuHours), "5,000");
        Row("[bold]total GPU-hours[/]", $"[bold]{Hours(e.TotalGpuHours)}[/]", "2,788,000");
        Row("[bold]cost[/]", $"[bold]${e.CostUsd:N0}[/]", "$5,576,000");
        Row("MFU (BF16 peak / FP8 peak)", $"{e.ImpliedMfuBf16:P1} / {e.ImpliedMfuFp8:P1}", "");
        AnsiConsole.Write(tt);
        AnsiConsole.MarkupLine($"[grey]MFU: {Markup.Escape(e.MfuExplanation)}[/]");
        AnsiConsole.MarkupLine(reportModel
            ? "[grey]Context extension and post-training: the report's GPU-hours, scaled by this plan's GPU-hours per 10^12 tokens over the report's. " +
              "At 32K/128K the MFU is lower than at 4K, so the report's 119K exceeds the first-principles figure.[/]"
            : "[grey]Context extension: the report's recipe (1000 steps x 1920 x 32K, 1000 x 480 x 128K) at this MFU; post-training not modelled (pass --post-training-gpu-hours).[/]");

        var mt = new Table().Title($"[bold]Memory per GPU: PP{layout.PP} ({ScheduleGenerators.Name(layout.Schedule)}) x TP{layout.TP} x DP{layout.DP} (ZeRO-1), EP{layout.EP}; " +
                                   $"worst pipeline rank {mem.PipelineRank} (stages {string.Join(", ", mem.Stages)})[/]")
            .AddColumn("item").AddColumn("precision").AddColumn(new TableColumn("bytes").RightAligned());
        foreach (var l in mem.Lines) mt.AddRow(l.Item, l.Precision, GB(l.Bytes));
        mt.AddRow("[bold]total[/]", "", $"[bold]{GB(mem.TotalBytes)}[/] of {g.MemoryGB:g} GB");
        AnsiConsole.Write(mt);
        AnsiConsole.MarkupLine($"[grey]{mem.DenseParams:N0} dense + {mem.ExpertParams:N0} expert parameters on this GPU. Weights BF16, gradients FP32 (not sharded), " +
                               "FP32 master weights and BF16 AdamW moments sharded over data-parallel replicas (ZeRO-1); activations: FP8 linear inputs, " +
                               $"BF16 latents, E5M6 attention output, RMSNorm/MLA up-projection/SwiGLU recomputed; {layout.MicroBatchSeqs} x {r.SeqLen}-token micro-batches.[/]");

        if (serving.Length == 0)
        {
            AnsiConsole.MarkupLine($"[grey]Serving: the report's units (EP32 prefill, one expert per GPU on 320 decode GPUs) need >= 256 routed experts; this model has {c.NRoutedExperts}.[/]");
            return;
        }
        var it = new Table().Title($"[bold]Serving on {g.Name} (report §3.4), context {serving[0].Context:N0}[/]").AddColumn("unit")
            .AddColumn(new TableColumn("weights/GPU").RightAligned()).AddColumn(new TableColumn("KV tokens/GPU").RightAligned())
            .AddColumn(new TableColumn("seqs/unit").RightAligned()).AddColumn(new TableColumn("compute tok/s").RightAligned())
            .AddColumn(new TableColumn("memory tok/s").RightAligned());
        foreach (var s in serving)
            it.AddRow($"{s.Unit.Name} ({s.Unit.Gpus} GPUs)", GB(s.WeightBytesPerGpu), B(s.KvTokensPerGpu), B(s.SequencesPerUnit),
                B(s.ComputeTokensPerSecond), s.MemoryTokensPerSecond is { } m ? B(m) : "-");
        AnsiConsole.Write(it);
        foreach (var s in serving)
            AnsiConsole.MarkupLine($"[grey]{s.Unit.Name}: {s.Unit.Nodes} nodes, attention TP{s.Unit.AttentionTp} + SP x DP{s.Unit.AttentionDp}, MoE EP{s.Unit.Ep}, " +
                                   $"{s.Unit.ExpertsPerGpu:g} experts per GPU per MoE layer ({s.Unit.ExtraExpertSlots} GPU slots for redundant{(s.Unit.SharedExpertsWithAttention ? "" : " and shared")} experts).[/]");
        AnsiConsole.MarkupLine("[grey]FP8 weights (MTP not loaded), 10% of memory reserved; MLA's latent is replicated on the 4 TP ranks. " +
                               "Compute bound at 100% of the FP8 peak; the decode memory bound reads all weights and KV once per step; prefill is compute-bound.[/]");
    }

    public static void PrintComparison(SimulationResult[] all)
    {
        var t0 = all[0].Times;
        var t = new Table().Title($"[bold]{all[0].Schedule.Stages} PP stages, {all[0].Schedule.MicroBatches} micro-batches, F={t0.F:g} B={t0.B:g} W={t0.W:g} F&B={t0.FB:g} comm={t0.Comm:g}[/]")
            .AddColumn("schedule").AddColumn(new TableColumn("devices").RightAligned()).AddColumn(new TableColumn("bubble").RightAligned())
            .AddColumn("closed form").AddColumn(new TableColumn("step").RightAligned()).AddColumn(new TableColumn("params/device").RightAligned())
            .AddColumn(new TableColumn("activations/device").RightAligned());
        foreach (var r in all)
        {
            var s = r.Schedule;
            bool exact = r.Times.Comm == 0 && ClosedForm.WhyNotExact(s.Kind, r.Times) is null;
            t.AddRow(ScheduleGenerators.Name(s.Kind), s.Devices.ToString(), Num(r.Bubble),
                $"{ClosedForm.BubbleFormula(s.Kind)} = {Num(ClosedForm.Bubble(s.Kind, s.Stages, r.Times))}{(exact ? "" : "*")}",
                Num(r.Makespan), $"{s.StagesPerDevice}x", r.PeakActivations.Max().ToString());
        }
        AnsiConsole.Write(t);
        AnsiConsole.MarkupLine("[grey]bubble = max idle time of a device in the step; params in stages (1/PP of the layers); activations in " +
                               "micro-batch-stages; * closed form not exact for these times (see plan schedule --kind K for why).[/]");
    }

    public static void PrintSchedule(SimulationResult sim, double closed, string? why, string? png)
    {
        var s = sim.Schedule;
        AnsiConsole.MarkupLine($"[bold]{ScheduleGenerators.Name(s.Kind)}[/]: {s.Stages} stages on {s.Devices} devices, {s.MicroBatches} micro-batches, " +
                               $"F={sim.Times.F:g} B={sim.Times.B:g} W={sim.Times.W:g} F&B={sim.Times.FB:g} comm={sim.Times.Comm:g}");
        AnsiConsole.MarkupLine($"bubble (max idle per device): [bold]{Num(sim.Bubble)}[/]   closed form {ClosedForm.BubbleFormula(s.Kind)} = {Num(closed)}" +
                               (why is null ? " (exact here)" : $" (not exact: {Markup.Escape(why)})"));
        AnsiConsole.MarkupLine($"step time {Num(sim.Makespan)}; parameters per device {s.StagesPerDevice}x a stage; peak activations per device {sim.PeakActivations.Max()} micro-batch-stages " +
                               $"(README: {ClosedForm.Activations(s.Kind, s.Stages)})");
        var t = new Table().AddColumn("device").AddColumn(new TableColumn("ops").RightAligned()).AddColumn(new TableColumn("busy").RightAligned())
            .AddColumn(new TableColumn("idle").RightAligned()).AddColumn(new TableColumn("peak act.").RightAligned());
        for (int d = 0; d < s.Devices; d++)
            t.AddRow(d.ToString(), s.DeviceOps[d].Count.ToString(), Num(sim.Busy[d]), Num(sim.Idle[d]), sim.PeakActivations[d].ToString());
        AnsiConsole.Write(t);
        if (png is not null) AnsiConsole.MarkupLine($"timeline written to [bold]{Markup.Escape(png)}[/]");
    }
}
