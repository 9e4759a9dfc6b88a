"""Modbus RTU framing, CRC and the Acuvim II decoding, including the manual's test vector."""

from firmware_src.device import acuvim, modbus
from firmware_src.tests.logic.support import raises

VECTOR_REQUEST = bytes([0x07, 0x03, 0x40, 0x00, 0x00, 0x06, 0xD0, 0x6E])
VECTOR_ANSWER = bytes([0x07, 0x03, 0x0C, 0x42, 0x48, 0x00, 0x00, 0x42, 0xC7, 0xCC, 0xCD, 0x42, 0xC8, 0x33, 0x33,
                       0x5C, 0x71])


class ScriptedPort:
    """Answers each request with the next scripted frame (b"" = silence, i.e. a timeout)."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.written = []

    def configure(self, baud, parity):
        pass

    def write(self, frame):
        self.written.append(bytes(frame))

    def read(self, nbytes, timeout_ms):
        return self.answers.pop(0) if self.answers else b""


def test_crc16_matches_the_well_known_read_request_vector():
    assert modbus.crc16(bytes([0x01, 0x03, 0x00, 0x00, 0x00, 0x0A])) == 0xCDC5
    assert modbus.read_request(1, 3, 0, 10)[-2:] == bytes([0xC5, 0xCD])


def test_manual_test_vector_request_is_framed_byte_for_byte():
    assert modbus.read_request(7, 3, 0x4000, 6) == VECTOR_REQUEST


def test_manual_test_vector_answer_decodes_to_50_hz_99_9_v_100_1_v():
    regs = modbus.parse_read_response(VECTOR_ANSWER, 7, 3, 6)
    assert round(modbus.regs_to_float(regs[0], regs[1]), 2) == 50.00
    assert round(modbus.regs_to_float(regs[2], regs[3]), 2) == 99.9
    assert round(modbus.regs_to_float(regs[4], regs[5]), 2) == 100.1


def test_master_reads_the_vector_through_a_port():
    port = ScriptedPort([VECTOR_ANSWER])
    regs = modbus.ModbusMaster(port).read_registers(7, 0x4000, 6)
    assert port.written == [VECTOR_REQUEST]
    assert len(regs) == 6 and regs[0] == 0x4248


def test_corrupt_crc_is_retried_and_counted():
    bad = bytearray(VECTOR_ANSWER)
    bad[-1] ^= 0xFF
    port = ScriptedPort([bytes(bad), VECTOR_ANSWER])
    master = modbus.ModbusMaster(port, retries=2)
    assert master.read_registers(7, 0x4000, 6)[0] == 0x4248
    assert master.errors == 1
    assert len(port.written) == 2


def test_timeouts_exhaust_retries_then_raise_timeout():
    port = ScriptedPort([b"", b"", b""])
    master = modbus.ModbusMaster(port, retries=2)
    raises(modbus.ModbusTimeout, master.read_registers, 7, 0x4000, 6)
    assert len(port.written) == 3 and master.errors == 3


def test_exception_answer_is_not_retried():
    port = ScriptedPort([modbus.with_crc(bytes([7, 0x83, 0x02]))])
    error = raises(modbus.ModbusExceptionResponse, modbus.ModbusMaster(port).read_registers, 7, 0x9000, 2)
    assert error.code == 2 and len(port.written) == 1


def test_answer_from_another_slave_is_rejected():
    answer = modbus.with_crc(bytes([8, 3, 2, 0, 1]))
    raises(modbus.ModbusError, modbus.parse_read_response, answer, 7, 3, 1)


def test_uint32_and_float_round_trip_high_word_first():
    assert modbus.regs_to_uint32(0x0001, 0x0002) == 65538
    assert modbus.uint32_to_regs(65538) == [1, 2]
    high, low = modbus.float_to_regs(230.5)
    assert modbus.regs_to_float(high, low) == 230.5


def test_write_single_echo_is_checked():
    request = modbus.write_single_request(1, acuvim.ENERGY_CLEAR_REGISTER, acuvim.ENERGY_CLEAR_VALUE)
    port = ScriptedPort([request])
    modbus.ModbusMaster(port).write_register(1, acuvim.ENERGY_CLEAR_REGISTER, acuvim.ENERGY_CLEAR_VALUE)
    port = ScriptedPort([modbus.write_single_request(1, acuvim.ENERGY_CLEAR_REGISTER, 1)])
    raises(modbus.ModbusError, modbus.ModbusMaster(port, retries=0).write_register, 1, acuvim.ENERGY_CLEAR_REGISTER, 10)


def test_register_map_decodes_into_protocol_field_names():
    values = [50.01, 230.1, 231.0, 229.8, 230.3, 398.6, 399.9, 398.1, 398.9, 10.2, 9.8, 10.1, 10.03, 0.3,
              2290.0, 2210.5, 2270.2, 6770.7, 310.0, 300.1, 305.7, 915.8, 2310.9, 2230.8, 2290.7, 6832.4,
              0.99, 0.99, 0.99, 0.99, 0.4, 1.8]
    regs = []
    for value in values:
        regs.extend(modbus.float_to_regs(value))
    record = acuvim.decode_realtime(regs)
    assert len(record) == 32
    assert record["f"] == 50.01 and record["v1"] == 230.1 and record["in"] == 0.3
    assert record["pt"] == 6770.7 and record["pft"] == 0.99 and record["ub_i"] == 1.8
    energy = acuvim.decode_energy(modbus.uint32_to_regs(123456) + modbus.uint32_to_regs(0)
                                  + modbus.uint32_to_regs(23451) + modbus.uint32_to_regs(0))
    assert energy == {"ep_imp": 12345.6, "ep_exp": 0.0, "eq_imp": 2345.1, "eq_exp": 0.0}
    thd = acuvim.decode_thd([210, 200, 220, 210, 530, 510, 560, 533])
    assert thd == {"thd_v1": 2.1, "thd_v2": 2.0, "thd_v3": 2.2, "thd_i1": 5.3, "thd_i2": 5.1, "thd_i3": 5.6}
