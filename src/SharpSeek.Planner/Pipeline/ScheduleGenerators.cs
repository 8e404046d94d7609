// ScheduleGenerators — 1F1B, ZB1P, DualPipe and DualPipeV as per-device op lists.
//
//   1F1B       stage s: min(S−1−s, M) warm-up F, then (F, full B) pairs, then the remaining full B.
//   ZB1P       zero-bubble ZB-H1 (Qi et al., arXiv 2401.10241): 1F1B's order with B split into B and W, and
//              stage s running its W passes s micro-batches late, so W fills the warm-up/cool-down gaps while each
//              stage still holds at most S activations (1F1B's peak).
//   DualPipe   deepseek-ai/DualPipe `dualpipe.py` step(): 8 phases of small verbs, micro-batches 0 … M/2−1 enter at
//              device 0 and M/2 … M−1 at the last device; device d holds stages d and S−1−d.
//   DualPipeV  `dualpipev.py`: the same phases on S/2 devices; a micro-batch runs stages 0 … S/2−1 down the
//              devices and S/2 … S−1 back up (device d holds stages d and S−1−d).
// In DualPipe a "zero-bubble" backward runs B only and queues its W (FIFO, `WeightGradStore`); a later
// `weight chunk` pops the oldest. Other backwards are full (B + W).
namespace SharpSeek.Planner.Pipeline;

public static class ScheduleGenerators
{
    /// <summary>A schedule of <paramref name="kind"/> over <paramref name="stages"/> pipeline stages (devices =
    /// stages, or stages / 2 for DualPipeV) and <paramref name="microBatches"/> micro-batches.</summary>
    public static PipelineSchedule Build(ScheduleKind kind, int stages, int microBatches) => kind switch
    {
        ScheduleKind.OneFOneB => OneFOneB(stages, microBatches),
        ScheduleKind.Zb1p => Zb1p(stages, microBatches),
        ScheduleKind.DualPipe => DualPipe(stages, microBatches),
        ScheduleKind.DualPipeV => DualPipeV(stages, microBatches),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    public static ScheduleKind ParseKind(string name) => name.ToLowerInvariant() switch
    {
        "1f1b" => ScheduleKind.OneFOneB,
        "zb1p" or "zb-h1" or "zbh1" => ScheduleKind.Zb1p,
        "dualpipe" => ScheduleKind.DualPipe,
        "dualpipev" => ScheduleKind.DualPipeV,
        _ => throw new ArgumentException($"unknown schedule '{name}'; use 1f1b, zb1p, dualpipe or dualpipev."),
    };

    public static string Name(ScheduleKind kind) => kind switch
    {
        ScheduleKind.OneFOneB => "1F1B",
        ScheduleKind.Zb1p => "ZB1P",
        ScheduleKind.DualPipe => "DualPipe",
        _ => "DualPipeV",
    };

    public static PipelineSchedule OneFOneB(int stages, int microBatches)
    {
        Require(stages >= 1 && microBatches >= 1, $"1F1B needs pp >= 1 and micro-batches >= 1 (got pp {stages}, {microBatches}).");
        var b = ScheduleBuilder.Linear(ScheduleKind.OneFOneB, stages, microBatches);
        for (int s = 0; s < stages; s++)
        {
            var d = b.Device(s);
            int warmup = Math.Min(stages - 1 - s, microBatches);
            for (int k = 0; k < warmup; k++) d.Forward(k, s);
            for (int k = 0; k < microBatches - warmup; k++) { d.Forward(k + warmup, s); d.Backward(k, s); }
            for (int k = microBatches - warmup; k < microBatches; k++) d.Backward(k, s);
        }
        return b.Build();
    }

    public static PipelineSchedule Zb1p(int stages, int microBatches)
    {
        Require(stages >= 1 && microBatches >= 1, $"ZB1P needs pp >= 1 and micro-batches >= 1 (got pp {stages}, {microBatches}).");
        var b = ScheduleBuilder.Linear(ScheduleKind.Zb1p, stages, microBatches);
        for (int s = 0; s < stages; s++)
        {
            var d = b.Device(s);
            int warmup = Math.Min(stages - 1 - s, microBatches), nextW = 0;
            for (int k = 0; k < warmup; k++) d.Forward(k, s);
            for (int k = 0; k < microBatches - warmup; k++)
            {
                d.Forward(k + warmup, s);
                d.BackwardInput(k, s);
                if (k >= s) d.Weight(nextW++, s); // W lags s micro-batches behind B on stage s
            }
            for (int k = microBatches - warmup; k < microBatches; k++) { d.BackwardInput(k, s); d.Weight(nextW++, s); }
            while (nextW < microBatches) d.Weight(nextW++, s);
        }
        return b.Build();
    }

    public static PipelineSchedule DualPipe(int stages, int microBatches)
    {
        Require(stages >= 2 && stages % 2 == 0, $"DualPipe needs an even pp >= 2 (got {stages}).");
        Require(microBatches % 2 == 0 && microBatches >= 2 * stages,
            $"DualPipe needs an even number of micro-batches >= 2 × pp = {2 * stages} (got {microBatches}).");
        int half = microBatches / 2;
        var forward = Enumerable.Range(0, stages).ToArray();
        var reverse = forward.Reverse().ToArray();
        var routeOf = Enumerable.Range(0, microBatches).Select(m => m < half ? 0 : 1).ToArray();
        var b = new ScheduleBuilder(ScheduleKind.DualPipe, stages, stages, microBatches, [forward, reverse], routeOf);
        for (int rank = 0; rank < stages; rank++)
        {
            bool secondHalf = rank >= stages / 2;
            // Phase 0 is the direction whose stage on this rank comes first in its route; DualPipe flips the
            // phase index on the second half of the ranks (`phase ^= is_in_second_half`).
            var phases = new DualPipePhase[2];
            phases[0] = new DualPipePhase(rank, 0);                // forward direction: micro-batches 0 … M/2−1
            phases[1] = new DualPipePhase(stages - 1 - rank, half); // reverse direction: M/2 … M−1
            if (secondHalf) (phases[0], phases[1]) = (phases[1], phases[0]);
            bool middle = rank == stages / 2 - 1 || rank == stages / 2;
            EmitDualPipe(b.Device(rank), phases, stages / 2, Math.Min(rank, stages - 1 - rank), half, middle);
        }
        return b.Build();
    }

    public static PipelineSchedule DualPipeV(int stages, int microBatches)
    {
        Require(stages >= 2 && stages % 2 == 0, $"DualPipeV needs an even number of stages (pp) >= 2 (got {stages}).");
        int devices = stages / 2;
        Require(microBatches >= 2 * devices, $"DualPipeV needs micro-batches >= pp = {stages} (got {microBatches}).");
        var route = Enumerable.Range(0, stages).Select(s => s < devices ? s : stages - 1 - s).ToArray();
        var b = new ScheduleBuilder(ScheduleKind.DualPipeV, devices, stages, microBatches, [route], new int[microBatches]);
        for (int rank = 0; rank < devices; rank++)
        {
            var phases = new[] { new DualPipePhase(rank, 0), new DualPipePhase(stages - 1 - rank, 0) };
            EmitDualPipe(b.Device(rank), phases, devices, rank, microBatches, rank == devices - 1);
        }
        return b.Build();
    }

    /// <summary>One of a DualPipe rank's two model chunks: its stage and the next micro-batch to run forward and
    /// backward (chunks run in micro-batch order from <paramref name="first"/>).</summary>
    private sealed class DualPipePhase(int stage, int first)
    {
        public int Stage { get; } = stage;
        public int NextForward = first;
        public int NextBackward = first;
    }

    /// <summary>The eight phases of DualPipe's step() for one rank. <paramref name="halfRanks"/> = ranks per
    /// direction (DualPipe: S/2, DualPipeV: devices), <paramref name="halfRank"/> = distance from the nearer end,
    /// <paramref name="chunks"/> = micro-batches per direction.</summary>
    private static void EmitDualPipe(DeviceProgram d, DualPipePhase[] phase, int halfRanks, int halfRank, int chunks, bool middle)
    {
        var weightQueue = new Queue<Work>();
        Work Fwd(int p) => new(Pass.Forward, phase[p].NextForward++, phase[p].Stage);
        Work Bwd(int p) => new(Pass.BackwardInput, phase[p].NextBackward++, phase[p].Stage);
        void F(int p) => d.Add(OpKind.Forward, Fwd(p));
        void B(int p, bool zeroBubble)
        {
            Work w = Bwd(p);
            if (zeroBubble) { d.Add(OpKind.BackwardInput, w); weightQueue.Enqueue(w with { Pass = Pass.BackwardWeight }); }
            else d.Add(OpKind.Backward, w, w with { Pass = Pass.BackwardWeight });
        }
        void FB(int p0, int p1)
        {
            Work f = Fwd(p0), bw = Bwd(p1);
            d.Add(OpKind.ForwardBackward, f, bw, bw with { Pass = Pass.BackwardWeight });
        }
        void W() => d.Add(OpKind.BackwardWeight, weightQueue.Dequeue());

        for (int i = 0; i < (halfRanks - halfRank - 1) * 2; i++) F(0);           // 1: nF0
        for (int i = 0; i <= halfRank; i++) { F(0); F(1); }                      // 2: nF0F1
        for (int i = 0; i < halfRanks - halfRank - 1; i++) { B(1, true); W(); F(1); } // 3: nB1W1F1
        for (int i = 0; i < chunks - 2 * halfRanks + halfRank + 1; i++)          // 4: nF0B1F1B0
        {
            if (i == 0 && middle) { F(0); B(1, false); } // the middle ranks do not overlap this pair
            else FB(0, 1);
            FB(1, 0);
        }
        for (int i = 0; i < halfRanks - halfRank - 1; i++) { B(1, false); FB(1, 0); } // 5: nB1F1B0
        bool zb = false; int step6 = halfRank + 1;                               // 6: nB1B0, second half zero-bubble
        for (int i = 0; i < step6; i++)
        {
            if (i == step6 / 2 && halfRank % 2 == 1) zb = true;
            B(1, zb);
            if (i == step6 / 2 && halfRank % 2 == 0) zb = true;
            B(0, zb);
        }
        for (int i = 0; i < halfRanks - halfRank - 1; i++) { W(); B(0, true); }  // 7: nWB0
        for (int i = 0; i <= halfRank; i++) W();                                 // 8: nW
        if (weightQueue.Count != 0) throw new InvalidOperationException("DualPipe left weight-gradient chunks unscheduled.");
    }

    private static void Require(bool ok, string message)
    {
        if (!ok) throw new ArgumentException(message);
    }
}
