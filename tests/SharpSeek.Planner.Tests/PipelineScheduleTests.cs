using SharpSeek.Planner.Pipeline;

namespace SharpSeek.Planner.Tests;

public class PipelineScheduleTests
{
    public static readonly ScheduleKind[] Kinds = [ScheduleKind.OneFOneB, ScheduleKind.Zb1p, ScheduleKind.DualPipe, ScheduleKind.DualPipeV];

    // Micro-batch counts per PP: the minimum each schedule accepts (2·PP), plus uneven larger ones.
    private static IEnumerable<int> MicroBatchCounts(int pp) => [2 * pp, 2 * pp + 6, 5 * pp];

    public static TheoryData<ScheduleKind, int> KindAndPp()
    {
        var data = new TheoryData<ScheduleKind, int>();
        foreach (var k in Kinds) foreach (int pp in new[] { 4, 8, 16 }) data.Add(k, pp);
        return data;
    }

    [Theory]
    [MemberData(nameof(KindAndPp))]
    public void Schedule_EveryWorkOnceOnItsDevice_TransfersPair_NoDeadlock(ScheduleKind kind, int pp)
    {
        foreach (int m in MicroBatchCounts(pp))
            ScheduleGenerators.Build(kind, pp, m).Validate();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    public void OneFOneB_And_Zb1p_FewerMicroBatchesThanStages_StillValid(int m)
    {
        foreach (var kind in new[] { ScheduleKind.OneFOneB, ScheduleKind.Zb1p })
        {
            var s = ScheduleGenerators.Build(kind, 8, m);
            s.Validate();
            Assert.True(s.PeakActivations().Max() <= m);
        }
        // One micro-batch is a plain sequential pass: 8 forwards then 8 backwards.
        var one = ScheduleSimulator.Run(ScheduleGenerators.OneFOneB(8, 1), new OpTimes(1, 2, 1, 3));
        Assert.Equal(8 * 3, one.Makespan, 9);
    }

    [Theory]
    [InlineData(1.0, 2.0, 1.0)]
    [InlineData(1.0, 2.0, 0.5)]
    [InlineData(1.0, 3.0, 1.0)]
    [InlineData(2.0, 3.0, 1.0)]
    [InlineData(3.0, 5.0, 2.0)]
    public void OneFOneB_And_Zb1p_Bubbles_EqualClosedForms(double f, double b, double w)
    {
        var times = OpTimes.WithSerialOverlap(f, b, w);
        foreach (int pp in new[] { 4, 8, 16 })
            foreach (int m in MicroBatchCounts(pp))
                foreach (var kind in new[] { ScheduleKind.OneFOneB, ScheduleKind.Zb1p })
                {
                    Assert.Null(ClosedForm.WhyNotExact(kind, times));
                    var sim = ScheduleSimulator.Run(ScheduleGenerators.Build(kind, pp, m), times);
                    Assert.Equal(ClosedForm.Bubble(kind, pp, times), sim.Bubble, 9);
                    // Every device idles exactly the bubble: the step is m(F+B) + bubble long.
                    Assert.All(sim.Idle, idle => Assert.Equal(sim.Bubble, idle, 9));
                    Assert.Equal(m * (f + b) + sim.Bubble, sim.Makespan, 9);
                }
    }

    [Theory]
    [InlineData(1.0, 2.0, 1.0, 3.0)] // the README figure: every cell one unit, F&B not faster than F + B
    [InlineData(1.0, 2.0, 1.0, 2.5)] // overlap hides half a cell
    [InlineData(1.0, 2.0, 1.0, 2.0)] // overlap hides the whole W
    [InlineData(2.0, 4.0, 2.0, 5.0)]
    [InlineData(3.0, 5.0, 2.0, 7.0)] // W < F
    [InlineData(1.0, 1.5, 0.5, 2.0)]
    public void DualPipe_And_DualPipeV_Bubbles_EqualClosedForm(double f, double b, double w, double fb)
    {
        var times = new OpTimes(f, b, w, fb);
        foreach (int pp in new[] { 4, 8, 16 })
            foreach (int m in MicroBatchCounts(pp))
                foreach (var kind in new[] { ScheduleKind.DualPipe, ScheduleKind.DualPipeV })
                {
                    Assert.Null(ClosedForm.WhyNotExact(kind, times));
                    var sim = ScheduleSimulator.Run(ScheduleGenerators.Build(kind, pp, m), times);
                    Assert.Equal(ClosedForm.Bubble(kind, pp, times), sim.Bubble, 9);
                }
    }

    [Fact]
    public void Zb1p_WeightLongerThanForward_BubbleExceedsClosedForm_AsDerived()
    {
        // Outside the closed form's regime (W > F): W cannot fill the whole gap; the bubble becomes
        // (PP-1)(F + B_in - min(W, F, B_in)) — here F = 1, B_in = 1, W = 1.5.
        var times = OpTimes.WithSerialOverlap(1, 2.5, 1.5);
        Assert.NotNull(ClosedForm.WhyNotExact(ScheduleKind.Zb1p, times));
        var sim = ScheduleSimulator.Run(ScheduleGenerators.Zb1p(8, 24), times);
        Assert.Equal(7 * (1 + 1 - 1.0), sim.Bubble, 9);
        Assert.True(sim.Bubble > ClosedForm.Bubble(ScheduleKind.Zb1p, 8, times));
    }

    [Theory]
    [MemberData(nameof(KindAndPp))]
    public void PeakActivations_And_ParameterCopies_MatchReadmeTable(ScheduleKind kind, int pp)
    {
        foreach (int m in MicroBatchCounts(pp))
        {
            var s = ScheduleGenerators.Build(kind, pp, m);
            Assert.Equal(ClosedForm.Activations(kind, pp), s.PeakActivations().Max());
            Assert.Equal(ClosedForm.ParameterCopies(kind), s.StagesPerDevice);
            Assert.Equal(kind == ScheduleKind.DualPipeV ? pp / 2 : pp, s.Devices);
        }
    }

    [Fact]
    public void DualPipe_EveryDeviceHoldsPpPlusOne_ButOneFOneB_OnlyTheFirst()
    {
        Assert.All(ScheduleGenerators.DualPipe(8, 20).PeakActivations(), a => Assert.Equal(9, a));
        Assert.Equal([8, 7, 6, 5, 4, 3, 2, 1], ScheduleGenerators.OneFOneB(8, 20).PeakActivations());
        Assert.All(ScheduleGenerators.Zb1p(8, 20).PeakActivations(), a => Assert.Equal(8, a));
    }

    [Fact]
    public void DualPipe_Device0_StartsLikeTheReadmeFigure()
    {
        // README figure, 8 ranks, 20 micro-batches: device 0 runs forwards 0..6 of its own direction, then the
        // first reverse-direction forward, its zero-bubble backward-for-inputs and the matching W.
        var s = ScheduleGenerators.DualPipe(8, 20);
        var d0 = s.DeviceOps[0].Take(10).Select(o => (o.Kind, s.LocalIndex(o.Works[0].MicroBatch), s.Direction(o.Works[0].MicroBatch))).ToArray();
        for (int i = 0; i < 7; i++) Assert.Equal((OpKind.Forward, i, 0), d0[i]);
        Assert.Equal((OpKind.Forward, 0, 1), d0[7]);
        Assert.Equal((OpKind.BackwardInput, 0, 1), d0[8]);
        Assert.Equal((OpKind.BackwardWeight, 0, 1), d0[9]);
        var d7 = s.DeviceOps[7][0];
        Assert.Equal(1, s.Direction(d7.Works[0].MicroBatch));
        Assert.Contains(s.DeviceOps[3], o => o.Kind == OpKind.ForwardBackward);
    }

    [Fact]
    public void Transfers_CrossDevicesOnly_DualPipeVTurnIsLocal()
    {
        var s = ScheduleGenerators.DualPipeV(8, 8); // 4 devices, stages 3 and 4 both on device 3
        var last = s.DeviceOps[3];
        var f3 = last.First(o => o.Kind == OpKind.Forward && o.Works[0].Stage == 4);
        Assert.Empty(f3.Receives); // stage 3 -> 4 stays on device 3
        var f0 = s.DeviceOps[0].First(o => o.Works[0].Stage == 0 && o.Kind == OpKind.Forward);
        Assert.Equal([new Transfer(1, TransferKind.Activation, 0, 0)], f0.Sends);
    }

    [Theory]
    [MemberData(nameof(KindAndPp))]
    public void Timeline_RespectsDependencies_DeviceOrder_AndOpDurations(ScheduleKind kind, int pp)
    {
        var times = new OpTimes(1.3, 2.9, 1.1, 3.7);
        var sim = ScheduleSimulator.Run(ScheduleGenerators.Build(kind, pp, 2 * pp + 2), times);
        var end = new Dictionary<Work, double>();
        foreach (var t in sim.Timeline.SelectMany(x => x)) foreach (var w in t.Op.Works) end[w] = t.End;
        for (int d = 0; d < sim.Timeline.Length; d++)
        {
            double previousEnd = 0;
            foreach (var t in sim.Timeline[d])
            {
                Assert.True(t.Start >= previousEnd - 1e-12, $"device {d} overlaps its previous op at {t.Start}");
                Assert.Equal(times.Duration(t.Op.Kind), t.End - t.Start, 12);
                foreach (var w in t.Op.Works)
                    foreach (var dep in sim.Schedule.Dependencies(w).Where(x => !t.Op.Works.Contains(x)))
                        Assert.True(end[dep] <= t.Start + 1e-12, $"{w} starts at {t.Start} before {dep} ends at {end[dep]}");
                previousEnd = t.End;
            }
        }
        // No idle gap that the dependencies do not force: every op starts at its device's previous end or at a
        // dependency's end (the simulator is as-soon-as-possible).
        foreach (var t in sim.Timeline.SelectMany(x => x).Where(t => t.Index > 0))
        {
            double prev = sim.Timeline[t.Device][t.Index - 1].End;
            var depEnds = t.Op.Works.SelectMany(sim.Schedule.Dependencies).Where(x => !t.Op.Works.Contains(x)).Select(x => end[x]);
            Assert.Contains(depEnds.Append(prev), e => Math.Abs(e - t.Start) < 1e-12);
        }
    }

    [Theory]
    [InlineData(4, 0.25)]
    [InlineData(8, 0.5)]
    public void OneMicroBatch_WithTransferLatency_PaysTwoHopsPerStageBoundary(int pp, double comm)
    {
        // One micro-batch crosses each stage boundary once forward and once backward: pp(F+B) + 2(pp-1)comm.
        var times = new OpTimes(1, 2, 1, 3, comm);
        var sim = ScheduleSimulator.Run(ScheduleGenerators.OneFOneB(pp, 1), times);
        Assert.Equal(pp * (times.F + times.B) + 2 * (pp - 1) * comm, sim.Makespan, 9);
        Assert.Equal((pp - 1) * (times.F + times.B + 2 * comm), sim.Bubble, 9);
    }

    [Fact]
    public void TransferLatency_OnlyCostsAcrossDevices_DualPipeVTurnIsFree()
    {
        // DualPipeV's turn (stage S/2-1 -> S/2) stays on the last device; 1F1B with one stage has no transfers at all.
        var single = ScheduleSimulator.Run(ScheduleGenerators.OneFOneB(1, 4), new OpTimes(1, 2, 1, 3, Comm: 5));
        Assert.Equal(4 * 3, single.Makespan, 9);
        foreach (var kind in Kinds)
        {
            var fast = ScheduleSimulator.Run(ScheduleGenerators.Build(kind, 8, 16), new OpTimes(1, 2, 1, 3));
            var slow = ScheduleSimulator.Run(ScheduleGenerators.Build(kind, 8, 16), new OpTimes(1, 2, 1, 3, Comm: 0.3));
            Assert.True(slow.Makespan > fast.Makespan, $"{kind}: latency must lengthen the step");
        }
    }

    [Theory]
    [MemberData(nameof(KindAndPp))]
    public void TransferTags_AreUniquePerStep(ScheduleKind kind, int pp)
    {
        var s = ScheduleGenerators.Build(kind, pp, 2 * pp);
        var tags = s.DeviceOps.SelectMany(ops => ops).SelectMany(o => o.Sends).Select(t => t.Tag(s.Stages)).ToList();
        Assert.Equal(tags.Count, tags.Distinct().Count());
        // Every micro-batch crosses each device boundary on its route once forward and once backward.
        int crossings = Enumerable.Range(0, s.MicroBatches)
            .Sum(m => Enumerable.Range(1, s.Stages - 1).Count(st => s.StageDevice(m, st) != s.StageDevice(m, st - 1)));
        Assert.Equal(2 * crossings, tags.Count);
    }

    [Fact]
    public void Simulator_ReversedOrder_ReportsDeadlock()
    {
        // Swap device 1's first op (a forward) behind its first backward: B needs that forward -> cycle.
        var good = ScheduleGenerators.OneFOneB(2, 2);
        var ops = good.DeviceOps[1].ToList();
        (ops[0], ops[1]) = (ops[1], ops[0]);
        var bad = new PipelineSchedule(good.Kind, 2, 2, 2, [[0, 1]], [0, 0], [good.DeviceOps[0], ops]);
        var e = Assert.Throws<InvalidOperationException>(() => ScheduleSimulator.Run(bad, new OpTimes(1, 2, 1, 3)));
        Assert.Contains("deadlock", e.Message);
        Assert.Throws<InvalidOperationException>(bad.Validate);
    }

    [Fact]
    public void Validate_WorkScheduledTwice_Throws()
    {
        var good = ScheduleGenerators.OneFOneB(2, 2);
        var ops = good.DeviceOps[0].Append(good.DeviceOps[0][0]).ToList();
        var bad = new PipelineSchedule(good.Kind, 2, 2, 2, [[0, 1]], [0, 0], [ops, good.DeviceOps[1]]);
        var e = Assert.Throws<InvalidOperationException>(bad.Validate);
        Assert.Contains("twice", e.Message);
    }

    [Theory]
    [InlineData(ScheduleKind.DualPipe, 8, 10)]   // fewer than 2·PP micro-batches
    [InlineData(ScheduleKind.DualPipe, 7, 20)]   // odd PP
    [InlineData(ScheduleKind.DualPipeV, 8, 6)]
    public void Generators_RejectShapesTheAlgorithmCannotRun(ScheduleKind kind, int pp, int m) =>
        Assert.Throws<ArgumentException>(() => ScheduleGenerators.Build(kind, pp, m));
}
