import struct
C=('10.1.0.1',40000); S=('10.2.0.2',80)
def ip2b(a): return bytes(int(x) for x in a.split('.'))
def csum(b):
    if len(b)%2: b+=b'\0'
    s=sum(struct.unpack('>%dH'%(len(b)//2),b)); 
    while s>>16: s=(s&0xffff)+(s>>16)
    return (~s)&0xffff
def ws(shift): return bytes([2,4,5,0xb4,4,2,1,3,3,shift,1,1])
FL={'F':1,'S':2,'R':4,'P':8,'A':16,'U':32}
def pkt(d,flags,seq,ack,win,opts=b'',plen=0,cport=40000):
    src,dst=((C[0],cport),S) if d=='C' else (S,(C[0],cport))
    f=sum(FL[c] for c in flags)
    opts=opts+b'\0'*((4-len(opts)%4)%4)
    hl=20+len(opts)
    tcp=struct.pack('>HHIIBBHHH',src[1],dst[1],seq&0xffffffff,ack&0xffffffff,(hl//4)<<4,f,win,0,0)+opts+b'x'*plen
    ph=ip2b(src[0])+ip2b(dst[0])+struct.pack('>BBH',0,6,len(tcp))
    c=csum(ph+tcp); tcp=tcp[:16]+struct.pack('>H',c)+tcp[18:]
    iph=struct.pack('>BBHHHBBH4s4s',0x45,0,20+len(tcp),1,0,64,6,0,ip2b(src[0]),ip2b(dst[0]))
    iph=iph[:10]+struct.pack('>H',csum(iph))+iph[12:]
    return b'\x02\0\0\0\0\x02'+b'\x02\0\0\0\0\x01'+b'\x08\x00'+iph+tcp
def write(name,pkts):
    with open(name+'.pcap','wb') as f:
        f.write(struct.pack('<IHHiIII',0xa1b2c3d4,2,4,0,0,65535,1))
        for i,p in enumerate(pkts):
            f.write(struct.pack('<IIII',i,0,len(p),len(p))+p)
HS=[pkt('C','S',1000,0,64240,ws(7)),pkt('S','SA',5000,1001,65160,ws(7)),pkt('C','A',1001,5001,502)]
ST5=HS+[pkt('C','PA',1001,5001,502,plen=100),pkt('S','A',5001,1101,509)]
write('overshoot',ST5+[pkt('C','PA',70000,5001,502,plen=100),pkt('C','PA',200000,5001,502,plen=100),pkt('S','A',5001,99999,509),pkt('S','A',5001,(1101-100000)&0xffffffff,509)])
write('inexact_rst',ST5+[pkt('S','R',5500,0,0),pkt('C','A',1101,5001,502),pkt('C','A',1101,5500,502),pkt('S','R',6000,0,0),pkt('S','R',5500,0,0),pkt('C','A',1101,5500,502)])
write('rst_below',ST5+[pkt('S','R',4000,0,0),pkt('S','RA',5001,1101,0)])
write('rst_train',ST5+[pkt('S','PA',5001,1101,509,plen=19),pkt('S','RA',5020,1101,0)])
write('challenge',ST5+[pkt('C','FA',1101,5001,502),pkt('S','FA',5001,1102,509),pkt('C','S',999999,0,64240,ws(7)),pkt('S','A',5002,1102,509),pkt('C','A',1102,5002,502),pkt('C','S',888888,0,64240,ws(7))])
write('simopen',[pkt('C','S',100,0,1000,ws(2)),pkt('S','S',700,0,2000,ws(2)),pkt('C','SA',100,701,1000,ws(2)),pkt('S','A',701,101,2000),pkt('C','PA',101,701,1000,plen=10)])
write('peer_rst_resync',ST5+[pkt('S','RA',5001,1101,0),pkt('C','S',424242,0,29200,ws(5)),pkt('S','SA',777,424243,28960,ws(6)),pkt('C','A',424243,778,1000),pkt('C','PA',424243,778,1000,plen=50)])
write('own_rst_reopen',ST5+[pkt('C','RA',1101,5001,0),pkt('C','S',424242,0,64240,ws(7)),pkt('S','SA',9000,424243,65160,ws(7))])
write('synsent_rules',[pkt('C','S',1000,0,64240,ws(7)),pkt('C','S',1000,0,64240,ws(7)),pkt('C','A',1001,5,100),pkt('S','A',77,4242,100),pkt('C','R',4242,0,0),pkt('C','F',1,0,0)])
write('rst_only_answer',[pkt('C','S',1000,0,64240,ws(7)),pkt('S','RA',0,1001,0),pkt('C','S',1000,0,64240,ws(7))])
write('fin_invalid_exchange',ST5+[pkt('C','FA',1101,99999,502),pkt('S','FA',5001,77777,509),pkt('C','A',1101,5001,502)])
write('retrans_zero',ST5+[pkt('S','A',5001,1101,509),pkt('S','A',5001,1101,509),pkt('S','A',5001,1101,509),pkt('C','A',1101,5001,502),pkt('S','A',5001,1101,0),pkt('C','PA',1101,5001,502,plen=10)])
write('pickup',[pkt('C','PA',1000,9000,1000,plen=100),pkt('S','A',9000,1100,1000),pkt('C','A',1100,9000,1000),pkt('C','PA',77777777,9000,1000,plen=10),pkt('S','SA',1,2,3)])
write('old_retrans',ST5+[pkt('C','PA',1101,5001,502,plen=60000),pkt('S','A',5001,61101,509),pkt('C','PA',61101,5001,502,plen=10000),pkt('S','A',5001,71101,509),pkt('C','PA',1001,5001,502,plen=100)])
write('liberal',HS+[pkt('C','FA',900000,5001,502,plen=10),pkt('S','A',5001,999999,509),pkt('S','FA',5001,1001,509)])
write('reply_syn_timewait',ST5+[pkt('C','FA',1101,5001,502),pkt('S','FA',5001,1102,509),pkt('C','A',1102,5002,502),pkt('S','S',31337,0,1000)])
write('synack_retrans_newseq',[pkt('C','S',1000,0,64240,ws(7)),pkt('S','SA',5000,1001,65160,ws(7)),pkt('S','SA',7000,1001,65160,ws(7)),pkt('C','A',1001,7001,502),pkt('C','A',1001,5001,502)])
# A RST whose ACK number is the end of the last SYN: it skips the window
# check only when it comes from the other side than that SYN (Linux 6.18,
# found by differential testing): the same side's is window-checked.
def hs(p): return [pkt('C','S',1000,0,1000,cport=p),pkt('S','SA',5000,1001,1000,cport=p),pkt('C','A',1001,5001,1000,cport=p)]
write('rst_after_syn_direction',
    [pkt('C','S',1000,0,1000,cport=40001),pkt('S','SA',5000,1001,1000,cport=40001),pkt('C','S',1000,0,1000,cport=40001),pkt('C','R',9999999,1001,0,cport=40001)]
    +[pkt('C','S',3864910921,0,502,ws(7),cport=40002),pkt('S','S',899681285,0,502,ws(7),cport=40002),pkt('S','R',4174771540,0,0,cport=40002)]
    +hs(40003)+[pkt('C','S',77777,0,1000,cport=40003),pkt('C','R',9999999,77778,0,cport=40003)]
    +hs(40004)+[pkt('C','S',77777,0,1000,cport=40004),pkt('S','R',9999999,77778,0,cport=40004)]
    +[pkt('C','S',1000,0,1000,cport=40005),pkt('S','S',5000,0,1000,cport=40005),pkt('C','R',9999999,0,0,cport=40005)])
