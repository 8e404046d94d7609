using System.Buffers.Binary;
using SharpSeek.Planner.Pipeline;

namespace SharpSeek.Planner.Tests;

public class ScheduleFigureTests
{
    [Fact]
    public void SavePng_WritesAPngOfTheReportedSize_WithOneRowPerDevice()
    {
        var sim = ScheduleSimulator.Run(ScheduleGenerators.DualPipe(4, 10), new OpTimes(1, 2, 1, 3));
        string path = Path.Combine(Path.GetTempPath(), $"sharpseek-schedule-{Guid.NewGuid():N}.png");
        try
        {
            var (w, h) = ScheduleFigure.SavePng(sim, path, "test");
            byte[] png = File.ReadAllBytes(path);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
            Assert.Equal(w, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));
            Assert.Equal(h, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
            var wider = ScheduleSimulator.Run(ScheduleGenerators.DualPipe(8, 20), new OpTimes(1, 2, 1, 3));
            var (_, h8) = ScheduleFigure.SavePng(wider, path, "test");
            Assert.InRange(h8 - h, 4 * 30 - 1, 4 * 30 + 1); // four more device rows of 30 px
        }
        finally { File.Delete(path); }
    }
}
